# The one `kttipay` binary; the same image runs every role (serve, api, worker, migrate).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p kttipay && cp target/release/kttipay /usr/local/bin/kttipay

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 kttipay
COPY --from=build /usr/local/bin/kttipay /usr/local/bin/kttipay
USER kttipay
EXPOSE 8080
ENTRYPOINT ["kttipay"]
CMD ["serve"]
