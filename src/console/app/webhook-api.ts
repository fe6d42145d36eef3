// The GraphQL operations of the Webhooks page: endpoints, their deliveries and attempts, and the mutations.
// Secrets are asked for only where the API hands them out once (adding an endpoint, rotating its secret).

/** A webhook endpoint as the page shows it (never its secret). */
export type Endpoint = {
  id: string
  url: string
  description: string | null
  events: string[]
  enabled: boolean
  failingSince: string | null
  createdAt: string
}

/** One attempt at a delivery: the receiver's answer (its first KiB) or the error, and how long it took. */
export type Attempt = {
  attempt: number
  statusCode: number | null
  error: string | null
  latencyMs: number
  responseBody: string | null
  createdAt: string
}

/** One event sent (or to be sent) to an endpoint. */
export type Delivery = {
  id: string
  eventId: string
  eventType: string
  status: string
  attempts: number
  nextAttemptAt: string | null
  deliveredAt: string | null
  payload: unknown
  attemptLog: Attempt[]
}

const endpointFields = 'id url description events enabled failingSince createdAt'

/** The merchant's endpoints and the event types they may subscribe to. */
export const endpointsQuery = `{ webhookEndpoints { ${endpointFields} } webhookEventTypes }`

/** A page of one endpoint's deliveries, newest first, with every attempt. */
export const deliveriesQuery = `query ($endpointId: ID!, $after: String) {
  webhookEndpoints { ${endpointFields} }
  webhookDeliveries(endpointId: $endpointId, first: 20, after: $after) {
    edges { node { id eventId eventType status attempts nextAttemptAt deliveredAt payload
      attemptLog { attempt statusCode error latencyMs responseBody createdAt } } }
    pageInfo { hasNextPage endCursor }
  }
}`

const refused = '... on UserError { code message field }'

export const createEndpointMutation = `mutation ($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { ... on WebhookEndpointWithSecret { secret endpoint { id url } } ${refused} }
}`

export const updateEndpointMutation = `mutation ($id: ID!, $input: UpdateWebhookEndpointInput!) {
  updateWebhookEndpoint(id: $id, input: $input) { ... on WebhookEndpoint { id } ${refused} }
}`

export const deleteEndpointMutation = `mutation ($id: ID!) {
  deleteWebhookEndpoint(id: $id) { ... on WebhookEndpointDeleted { id } ${refused} }
}`

export const rotateSecretMutation = `mutation ($id: ID!, $overlapSeconds: Int) {
  rotateWebhookSecret(id: $id, overlapSeconds: $overlapSeconds) {
    ... on WebhookEndpointWithSecret { secret endpoint { id url } } ${refused}
  }
}`

export const redeliverMutation = `mutation ($id: ID!) {
  redeliverWebhook(deliveryId: $id) { ... on WebhookDelivery { id status } ${refused} }
}`

/** How long the old secret keeps signing after a rotation: the choices offered (the API takes 0 to 7 days). */
export const overlapChoices: ReadonlyArray<{ seconds: number; label: string }> = [
  { seconds: 86_400, label: '1 day (default)' },
  { seconds: 3_600, label: '1 hour' },
  { seconds: 7 * 86_400, label: '7 days' },
  { seconds: 0, label: 'Not at all: the old secret stops now' },
]
