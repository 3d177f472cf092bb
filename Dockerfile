# carebook: one static-ish binary on a slim Debian base.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked && strip target/release/carebook

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/carebook --create-home carebook
COPY --from=build /src/target/release/carebook /usr/local/bin/carebook
USER carebook
WORKDIR /var/lib/carebook
ENV CAREBOOK_LISTEN=0.0.0.0:8080
# No transparent huge pages for the allocator, whatever the host's setting
# (docs/ARCHITECTURE.md, "mimalloc as the allocator").
ENV MIMALLOC_ALLOW_THP=0
EXPOSE 8080
ENTRYPOINT ["carebook"]
CMD ["serve"]
