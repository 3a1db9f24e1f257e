"""docker-compose.yml: it validates; the one machine's services are as the docs say; its cluster
profile is the namespace cluster's topology (deploy/cluster/topology.py), its services wired
as that describes and its files rendered by the same functions (deploy/compose/render.py).

No Docker engine here: `docker-compose config` (Debian's, installed by scripts/ensure-test-tools)
resolves and validates the file; the images are neither pulled nor built."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from tests.servers import ROOT


def load(name: str, path: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render = load("compose_render", "deploy/compose/render.py")  # puts deploy/cluster on sys.path
topology = sys.modules["topology"]
namespaces = load("cluster_hosts", "deploy/cluster/hosts.py")
COMPOSE = render.LAYOUT
ONE_MACHINE = {"db", "redis", "app", "pushpin", "rabbitmq"}
CLUSTER = {host for hosts in topology.COMPOSE_HOSTS.values() for host in hosts}


@pytest.fixture(scope="module")
def resolved(tmp_path_factory) -> dict:
    """`docker-compose config` with every profile, on a copy of the checkout's files."""
    if not shutil.which("docker-compose"):
        pytest.skip("docker-compose is not installed (make test installs it)")
    where = tmp_path_factory.mktemp("compose")
    for name in ("docker-compose.yml", "Dockerfile", "deploy"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, where / name)
    shutil.copy(ROOT / ".env.example", where / ".env")
    profiles = [arg for name in ("edge", "feed", "cluster") for arg in ("--profile", name)]
    done = subprocess.run(["docker-compose", *profiles, "config"], cwd=where,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def mounted(service: dict, target: str) -> str:
    """The text of the checkout's file that `service` mounts at `target`."""
    for volume in service["volumes"]:
        if isinstance(volume, str):  # docker-compose 1.x: source:target:mode
            source, _, rest = volume.partition(":")
            volume = {"source": source, "target": rest.split(":")[0], "read_only": "ro" in rest}
        if volume["target"] == target:
            assert volume["read_only"], volume
            relative = volume["source"].split("/deploy/compose/", 1)[1]
            return (ROOT / "deploy" / "compose" / relative).read_text()
    raise AssertionError(f"nothing mounted at {target}")


def test_it_validates_with_every_profile_and_the_one_machine_is_as_before(resolved):
    services = resolved["services"]
    assert set(services) == ONE_MACHINE | CLUSTER
    app = services["app"]["environment"]
    assert "@db:5432/" in app["DATABASE_URL"]
    assert app["REDIS_URL"] == "redis://redis:6379/0"
    assert services["app"]["depends_on"]["db"]["condition"] == "service_healthy"


def test_images_healthchecks_volumes_and_profiles():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["db"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    assert services["pushpin"]["profiles"] == ["edge"]
    assert services["rabbitmq"]["profiles"] == ["feed", "cluster"]
    for name in ONE_MACHINE - {"pushpin", "rabbitmq"}:
        assert "profiles" not in services[name], name
    for name in CLUSTER - {"redis", "rabbitmq"}:
        assert services[name]["profiles"] == ["cluster"], name
    for name, service in services.items():
        assert "healthcheck" in service, name
    assert "readyz" in " ".join(services["app"]["healthcheck"]["test"])
    etcd_and_nodes = (*COMPOSE.of("etcd"), *COMPOSE.of("database"))
    assert set(compose["volumes"]) == {"pgdata", "redisdata", "rabbitmqdata"} | {
        f"{host}data" for host in etcd_and_nodes
    }
    assert compose["networks"] == {render.NETWORK: {"internal": True}}


def test_the_committed_files_are_what_the_topology_renders():
    stale = [path for path, text in render.expected().items() if not render.same(ROOT / path, text)]
    assert stale == [], "run .venv/bin/python deploy/compose/render.py"


def test_both_layouts_have_every_role_and_its_count():
    for layout in (topology.NAMESPACE_HOSTS, topology.COMPOSE_HOSTS):
        assert {role: len(hosts) for role, hosts in layout.items()} == topology.ROLES
    in_namespaces = {host for hosts in topology.NAMESPACE_HOSTS.values() for host in hosts}
    assert set(namespaces.HOSTS) == in_namespaces | {"tn-client"}


def test_the_database_tier_is_patroni_on_etcd_behind_haproxy_and_pgbouncer(resolved):
    services, etcds, nodes = resolved["services"], COMPOSE.of("etcd"), COMPOSE.of("database")
    members = ",".join(f"{h}=http://{h}:{topology.ETCD_PEER_PORT}" for h in etcds)
    for host in etcds:
        command = services[host]["command"]
        assert command[command.index("--initial-cluster") + 1] == members
    for host in (*etcds, *nodes, COMPOSE.one("dbproxy"), COMPOSE.one("pgbouncer")):
        assert set(services[host]["networks"]) == {render.NETWORK}, host  # internal only
    for host in nodes:
        patroni = yaml.safe_load(mounted(services[host], render.PATRONI_YML))
        dcs = patroni["bootstrap"]["dcs"]
        assert patroni["name"] == host
        assert patroni["etcd3"]["hosts"] == [f"{h}:{topology.ETCD_CLIENT_PORT}" for h in etcds]
        assert dcs["synchronous_mode"] is True and dcs["postgresql"]["use_pg_rewind"] is True
        assert (dcs["ttl"], dcs["loop_wait"], dcs["retry_timeout"]) == (10, 2, 4)
        assert services[host]["build"]["dockerfile"] == "patroni.Dockerfile"

    proxy = mounted(services["dbproxy"], f"{render.HAPROXY_DIR}/haproxy.cfg")
    primary, replicas = proxy.split("listen primary\n")[1].split("listen replicas\n")
    for section, port, check in ((primary, 5000, "/primary"), (replicas, 5001, "/replica")):
        assert f"bind 0.0.0.0:{port}\n" in section and f"option httpchk GET {check}\n" in section
        servers = [line.split()[1:3] for line in section.splitlines() if "server " in line]
        assert servers == [[h, f"{h}:5432"] for h in nodes]

    pgbouncer = mounted(services["pgbouncer"], "/etc/pgbouncer/tradenet.ini")
    assert "tradenet = host=dbproxy port=5000 dbname=tradenet" in pgbouncer
    assert "listen_port = 6432\n" in pgbouncer and "pool_mode = transaction\n" in pgbouncer


def test_the_app_hosts_load_balancer_and_edges_are_wired_as_in_the_namespaces(resolved):
    services, apps, edges = resolved["services"], COMPOSE.of("app"), COMPOSE.of("edge")
    for host in apps:
        env = services[host]["environment"]
        assert env["DATABASE_URL"] == "postgres://postgres@pgbouncer:6432/tradenet"
        assert env["DATABASE_DIRECT_URL"] == "postgres://postgres@dbproxy:5000/tradenet"
        assert env["DATABASE_REPLICA_URL"] == "postgres://postgres@dbproxy:5001/tradenet"
        assert env["GRIP_URL"] == "http://edge1:5561,http://edge2:5561"
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["TRADENET_AMQP_URL"].endswith("@rabbitmq:5672/%2F")
        assert set(services[host]["networks"]) == {"default", render.NETWORK}
    assert set(services[apps[1]]["depends_on"]) == {apps[0]}  # the first migrates

    lb = mounted(services["lb"], f"{render.HAPROXY_DIR}/haproxy.cfg")
    servers = [line.split()[1:3] for line in lb.splitlines() if line.startswith("    server ")]
    assert servers == [[h, f"{h}:8000"] for h in apps] * 2  # requests, then streams
    assert "    timeout http-keep-alive 60s\n" in lb
    body = mounted(services["lb"], f"{render.HAPROXY_DIR}/503.http").split("\n\n", 1)[1]
    assert json.loads(body)["code"] == "unavailable"
    assert set(services["lb"]["depends_on"]) == set(apps)
    for host in edges:
        routes = mounted(services[host], "/etc/pushpin/routes")
        assert routes.splitlines()[-1] == "* lb:80"
        assert "tradenet-edge.sh" in " ".join(services[host]["entrypoint"])


def test_the_namespaces_and_compose_differ_only_in_names_and_container_plumbing():
    """One renderer, two layouts: the namespace cluster's configs become the compose ones by
    swapping each address for its service's name and the compose-only lines (Docker's DNS, the
    generated-file header, paths inside the images)."""
    names = {
        host: name
        for role, hosts in topology.NAMESPACE_HOSTS.items()
        for host, name in zip(hosts, topology.COMPOSE_HOSTS[role], strict=True)
    }

    def translated(text: str) -> str:
        for host, name in names.items():
            address = namespaces.addr(host)
            text = text.replace(f"bind {address}:", "bind 0.0.0.0:").replace(address, name)
            text = re.sub(rf"\b{host}\b", name, text)
        return text

    def plain(text: str) -> str:
        dns = ("resolvers dns", "    nameserver dns", "    hold valid", "    default-server reso")
        lines = [line for line in text.splitlines()[1:] if not line.startswith(dns)]
        return "\n".join(line.split(" resolvers dns")[0] for line in lines) + "\n"

    ours, compose = namespaces.LAYOUT, render.files()
    assert translated(topology.dbproxy_cfg(ours)) == plain(compose[f"{render.HERE}/dbproxy.cfg"])
    web = topology.lb_cfg(ours, f"{render.HAPROXY_DIR}/503.http")
    assert translated(web) == plain(compose[f"{render.HERE}/haproxy.cfg"])
