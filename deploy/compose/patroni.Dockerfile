# The compose cluster profile's database nodes: PostgreSQL 16 run by Patroni (Debian's, with
# its etcd client), configured by deploy/compose/patroni-<node>.yml (deploy/compose/render.py).
# Not built on the machines this was written on (no Docker engine, Docker Hub unreachable).
FROM postgres:16
RUN apt-get update \
    && apt-get install -y --no-install-recommends patroni python3-etcd \
    && rm -rf /var/lib/apt/lists/*
USER postgres
ENTRYPOINT ["patroni"]
CMD ["/etc/patroni.yml"]
