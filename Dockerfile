# The one `kttipay` binary; the same image runs every role (serve, api, worker, migrate).
FROM rust:1.95-bookworm AS build
# Receipts are read by Tesseract through its C API: link against it.
RUN apt-get update && apt-get install -y --no-install-recommends libtesseract-dev libleptonica-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p kttipay && cp target/release/kttipay /usr/local/bin/kttipay

FROM debian:bookworm-slim
# Tesseract and its English data read receipts; poppler renders PDF receipts.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
        libtesseract5 tesseract-ocr-eng poppler-utils \
    && rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 kttipay \
    && mkdir -p /var/lib/kttipay && chown kttipay /var/lib/kttipay
ENV KTTIPAY_DATA_DIR=/var/lib/kttipay
COPY --from=build /usr/local/bin/kttipay /usr/local/bin/kttipay
USER kttipay
EXPOSE 8080
ENTRYPOINT ["kttipay"]
CMD ["serve"]
