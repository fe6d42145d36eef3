FROM oven/bun:1.4.5
WORKDIR /app
COPY package.json bun.lock bunfig.toml ./
COPY packages/sdk/package.json packages/sdk/
RUN bun install --frozen-lockfile --production
COPY . .
ENV HOST=0.0.0.0 PORT=4000
EXPOSE 4000
ENTRYPOINT ["bun", "src/cli.ts"]
CMD ["serve"]
