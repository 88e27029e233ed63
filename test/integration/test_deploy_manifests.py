"""deploy/: the Kubernetes manifests, the container build file and the example configs.

No Docker engine or cluster runs here (deploy/README.md), so this checks what
can be checked without one: every manifest parses (python3-yaml) and has the
fields the API requires; names, labels, ports, probe paths and the config
mount agree across the manifests; the ConfigMap's controller.yaml runs — with
the service account's token and CA replaced by test ones, against the fake
API server over https — and serves; the example configs start; the
Dockerfile installs the packages of the libraries the built binary links.
"""
import glob
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("WEFT_SOURCE") or os.path.join(os.path.dirname(__file__), "..", ".."),
                                "test", "lib"))
from weft_harness import *  # noqa: E402,F403
from controller_harness import FakeKube, kube_service, kube_slice  # noqa: E402

import yaml  # noqa: E402  (python3-yaml)

DEPLOY = os.path.join(SOURCE, "deploy")
K8S = os.path.join(DEPLOY, "kubernetes")
NAMESPACED = {"ServiceAccount", "ConfigMap", "Deployment", "Service"}


def load_manifests():
    docs = {}
    for path in sorted(glob.glob(os.path.join(K8S, "*.yaml"))):
        with open(path) as f:
            for d in yaml.safe_load_all(f):
                if d is not None:
                    docs.setdefault(os.path.basename(path), []).append(d)
    return docs


def by_kind(docs):
    out = {}
    for file_docs in docs.values():
        for d in file_docs:
            out.setdefault(d["kind"], []).append(d)
    return out


class DeployManifests(WeftTestCase):
    def test_manifests_parse_and_agree(self):
        docs = load_manifests()
        kinds = by_kind(docs)
        for k in ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment",
                  "Service", "Kustomization"]:
            self.assertIn(k, kinds, f"no {k} in deploy/kubernetes")
        ns = kinds["Namespace"][0]["metadata"]["name"]
        for file, file_docs in docs.items():
            for d in file_docs:
                self.assertTrue(d.get("apiVersion") and d.get("kind"), file)
                if d["kind"] != "Kustomization":
                    self.assertTrue(d["metadata"].get("name"), file)
                if d["kind"] in NAMESPACED:
                    self.assertEqual(d["metadata"].get("namespace"), ns, f"{file}: {d['kind']}")
        # The kustomization lists exactly the other files.
        listed = set(kinds["Kustomization"][0]["resources"])
        self.assertEqual(listed, set(docs) - {"kustomization.yaml"})

        sa = kinds["ServiceAccount"][0]["metadata"]["name"]
        rules = kinds["ClusterRole"][0]["rules"]
        grants = {(g, r): set(rule["verbs"]) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]}
        self.assertLessEqual({"get", "list", "watch"}, grants[("", "services")])
        self.assertLessEqual({"get", "list", "watch"}, grants[("discovery.k8s.io", "endpointslices")])
        binding = kinds["ClusterRoleBinding"][0]
        self.assertEqual(binding["roleRef"]["name"], kinds["ClusterRole"][0]["metadata"]["name"])
        self.assertIn({"kind": "ServiceAccount", "name": sa, "namespace": ns}, binding["subjects"])

        dep = kinds["Deployment"][0]
        pod = dep["spec"]["template"]
        labels = pod["metadata"]["labels"]
        for k, v in dep["spec"]["selector"]["matchLabels"].items():
            self.assertEqual(labels.get(k), v)
        spec = pod["spec"]
        self.assertEqual(spec["serviceAccountName"], sa)
        c = spec["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        for probe, path in [("livenessProbe", "/live"), ("readinessProbe", "/ready")]:
            self.assertEqual(c[probe]["httpGet"]["path"], path)
            self.assertIn(c[probe]["httpGet"]["port"], ports)
        self.assertEqual(c["readinessProbe"]["httpGet"]["port"], "admin")
        config_arg = c["args"][c["args"].index("--config") + 1]
        mount = next(m for m in c["volumeMounts"] if config_arg.startswith(m["mountPath"] + "/"))
        volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
        cm = kinds["ConfigMap"][0]
        self.assertEqual(volume["configMap"]["name"], cm["metadata"]["name"])
        self.assertIn(os.path.basename(config_arg), cm["data"])

        svc = kinds["Service"][0]
        for k, v in svc["spec"]["selector"].items():
            self.assertEqual(labels.get(k), v)
        for p in svc["spec"]["ports"]:
            self.assertIn(p["targetPort"], ports)

        # The controller config listens where the container ports say.
        config = yaml.safe_load(cm["data"][os.path.basename(config_arg)])
        self.assertEqual(int(config["xds"].rsplit(":", 1)[1]), ports["xds"])
        self.assertEqual(int(config["admin"].rsplit(":", 1)[1]), ports["admin"])
        self.assertIn("kubernetes", config["source"])

    def test_configmap_controller_config_runs_against_the_fake_api_server(self):
        cm = by_kind(load_manifests())["ConfigMap"][0]
        text = cm["data"]["controller.yaml"]
        cert, key = self.env.path("server.pem"), self.env.path("server-key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "1", "-subj", "/CN=kubernetes", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
        token = self.env.path("token")
        with open(token, "w") as f:
            f.write("sa-token")
        kube = FakeKube(self.env, token="sa-token", cert=cert, key=key)
        kube.apply(kube_service("shop", "cart", [("http", 80, None)]))
        kube.apply(kube_slice("shop", "cart-1", "cart", [("http", 8080)], [("10.4.0.1", True, True, False)]))
        xds, admin = free_port(), free_port()
        # Only what a pod would have differently: the service account's files, loopback listeners.
        text = text.replace("/var/run/secrets/kubernetes.io/serviceaccount/token", token)
        text = text.replace("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt", cert)
        text = re.sub(r"xds: \S+", f"xds: 127.0.0.1:{xds}", text)
        text = re.sub(r"admin: \S+", f"admin: 127.0.0.1:{admin}", text)
        path = self.env.path("controller.yaml")
        with open(path, "w") as f:
            f.write(text)
        env = dict(os.environ, KUBERNETES_SERVICE_HOST="127.0.0.1", KUBERNETES_SERVICE_PORT=str(kube.port))
        proc = self.env.start("controller", [weft_bin(), "controller", "--config", path], env=env)
        wait_port(xds, timeout=15, proc=proc)
        status, body = http_get(admin, "/debug/endpoints")
        self.assertEqual(status, 200)
        self.assertIn('"cart.shop.svc.cluster.local:80"', body)
        self.assertIn("10.4.0.1:8080", body)
        self.assertEqual(http_get(admin, "/ready")[0], 200)

    def test_example_configs_start(self):
        ex = os.path.join(DEPLOY, "examples")
        for name in sorted(os.listdir(ex)):
            with open(os.path.join(ex, name)) as f:
                text = f.read()
            self.assertIsNotNone(yaml.safe_load(text), name)
        cases = []
        for name in ["controller-file.yaml", "controller-etcd.yaml", "controller-kubernetes-outside.yaml"]:
            cases.append((name, "controller"))
        cases.append(("proxy.yaml", "proxy"))
        for name, cmd in cases:
            with open(os.path.join(ex, name)) as f:
                text = f.read()
            admin = free_port()
            # Loopback ports of our own instead of the documented defaults; peers that do not exist here
            # (etcd, kubectl proxy, the controller) point at a closed loopback port.
            closed = free_port()
            text = re.sub(r"(xds|outbound|inbound): \S+", lambda m: f"{m.group(1)}: 127.0.0.1:{free_port()}", text)
            text = re.sub(r"admin: \S+", f"admin: 127.0.0.1:{admin}", text)
            text = re.sub(r"app: \S+", f"app: 127.0.0.1:{closed}", text)
            text = re.sub(r"controller: \S+", f"controller: 127.0.0.1:{closed}", text)
            text = re.sub(r"http://127\.0\.0\.1:\d+", f"http://127.0.0.1:{closed}", text)
            path = self.env.path(name)
            with open(path, "w") as f:
                f.write(text)
            if name == "controller-file.yaml":
                with open(os.path.join(ex, "services.yaml")) as src, open(self.env.path("services.yaml"), "w") as dst:
                    dst.write(src.read())
            proc = self.env.start(name, [weft_bin(), cmd, "--config", path])
            wait_port(admin, timeout=10, proc=proc)
            self.assertEqual(http_get(admin, "/live")[0], 200, name)
            if name == "controller-file.yaml":
                self.assertIn("api.test:80", http_get(admin, "/debug/endpoints")[1])
            proc.stop()

    def test_dockerfile_installs_what_weft_links(self):
        with open(os.path.join(DEPLOY, "Dockerfile")) as f:
            docker = f.read()
        runtime = docker.split("FROM debian:bookworm-slim", 1)[1]
        installed = set(re.findall(r"\b(lib[\w.+-]+|ca-certificates)\b", runtime))
        # The binary and its xDS module (weft-xds.so, dlopened by the controller
        # and by a proxy with a controller), which must sit next to it in the image.
        module = os.path.join(os.path.dirname(weft_bin()), "weft-xds.so")
        self.assertTrue(os.path.exists(module), module)
        self.assertRegex(runtime, r"COPY --from=build /src/build/bin/weft-xds\.so /usr/local/bin/weft-xds\.so")
        libs = []
        for binary in (weft_bin(), module):
            ldd = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
            libs += [line.split("=>")[1].split()[0] for line in ldd.splitlines() if "=>" in line and "/" in line]
        needed = set()
        for lib in libs:
            r = subprocess.run(["dpkg", "-S", os.path.realpath(lib)], capture_output=True, text=True)
            if r.returncode != 0:
                r = subprocess.run(["dpkg", "-S", lib], capture_output=True, text=True)
            if r.returncode == 0:
                needed.add(r.stdout.split(":")[0])
        # Those the named packages pull in as dependencies (libc, libstdc++, absl, grpc core ...) are not listed.
        direct = {p for p in needed if p.startswith(("libgrpc++", "libprotobuf", "libyaml-cpp", "libspdlog", "libfmt",
                                                      "libboost-json", "libnghttp2", "libssl"))}
        self.assertTrue(direct, needed)
        self.assertLessEqual(direct, installed, f"Dockerfile misses {direct - installed}")


def http_get(port, path):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


if __name__ == "__main__":
    main()
