"""deploy/k8s renders offline with `kubectl kustomize`, and says what an
operator relies on: a StatefulSet with a claim for the store, ranker
replicas behind a headless Service with an autoscaler, the loop as a Job
on the experiment ConfigMap, gRPC probes on the served port, requests and
limits everywhere, and arguments `feedloop` accepts."""

import os
import subprocess
import sys
import unittest

import yaml

SOURCE = os.environ["FEEDLOOP_SOURCE_DIR"]
FEEDLOOP = os.environ["FEEDLOOP_BINARY"]


def render():
    out = subprocess.run(
        ["kubectl", "kustomize", os.path.join(SOURCE, "deploy/k8s")],
        check=True, capture_output=True, text=True, timeout=60)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


class K8sTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.docs = render()
        cls.by_kind = {}
        for d in cls.docs:
            cls.by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d

    def workload(self, kind, name):
        self.assertIn(name, self.by_kind.get(kind, {}), f"no {kind} {name}")
        return self.by_kind[kind][name]

    def test_everything_in_one_namespace(self):
        for d in self.docs:
            if d["kind"] != "Namespace":
                self.assertEqual(d["metadata"].get("namespace"), "feedloop",
                                 f'{d["kind"]} {d["metadata"]["name"]}')

    def test_store_is_a_statefulset_with_a_claim(self):
        sts = self.workload("StatefulSet", "store")
        self.assertEqual(sts["spec"]["replicas"], 1)
        claims = [c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]]
        self.assertEqual(claims, ["data"])
        c = sts["spec"]["template"]["spec"]["containers"][0]
        mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
        self.assertEqual(mounts["data"], "/var/lib/feedloop")
        self.assertIn("/var/lib/feedloop", c["args"])  # its --data_dir

    def test_ranker_replicas_behind_headless_service(self):
        dep = self.workload("Deployment", "ranker")
        self.assertGreaterEqual(dep["spec"]["replicas"], 2)
        svc = self.workload("Service", "ranker")
        self.assertEqual(svc["spec"]["clusterIP"], "None")
        hpa = self.workload("HorizontalPodAutoscaler", "ranker")
        self.assertEqual(hpa["spec"]["scaleTargetRef"]["name"], "ranker")
        self.assertGreaterEqual(hpa["spec"]["maxReplicas"], hpa["spec"]["minReplicas"])

    def test_services_select_their_pods_and_ports(self):
        pods = {}
        for kind in ("StatefulSet", "Deployment"):
            for name, w in self.by_kind[kind].items():
                pods[name] = w["spec"]["template"]
        for name, svc in self.by_kind["Service"].items():
            labels = pods[name]["metadata"]["labels"]
            for k, v in svc["spec"]["selector"].items():
                self.assertEqual(labels.get(k), v, f"Service {name} selector")
            names = {p["name"] for c in pods[name]["spec"]["containers"]
                     for p in c["ports"]}
            for p in svc["spec"]["ports"]:
                self.assertIn(p["targetPort"], names, f"Service {name}")

    def test_probes_resources_and_non_root(self):
        for kind in ("StatefulSet", "Deployment", "Job"):
            for name, w in self.by_kind[kind].items():
                spec = w["spec"]["template"]["spec"]
                self.assertTrue(spec["securityContext"]["runAsNonRoot"], name)
                for c in spec["containers"]:
                    r = c["resources"]
                    for part in ("requests", "limits"):
                        self.assertIn("cpu", r[part], f"{name} {part}")
                        self.assertIn("memory", r[part], f"{name} {part}")
                    if kind == "Job":
                        continue
                    grpc_port = {p["name"]: p["containerPort"]
                                 for p in c["ports"]}["grpc"]
                    for probe in ("readinessProbe", "livenessProbe"):
                        self.assertEqual(c[probe]["grpc"]["port"], grpc_port,
                                         f"{name} {probe}")
                    self.assertIn(f"0.0.0.0:{grpc_port}", c["args"], name)

    def test_loop_job_runs_the_configmap_experiment(self):
        job = self.workload("Job", "loop")
        spec = job["spec"]["template"]["spec"]
        self.assertEqual(spec["restartPolicy"], "Never")
        c = spec["containers"][0]
        self.assertEqual(c["args"][0], "run")
        config = c["args"][c["args"].index("--config") + 1]
        mount = next(m for m in c["volumeMounts"] if config.startswith(m["mountPath"]))
        volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
        cm_name = volume["configMap"]["name"]
        self.assertTrue(cm_name.startswith("feedloop-experiment"))  # hashed
        data = self.by_kind["ConfigMap"][cm_name]["data"]
        key = os.path.basename(config)
        # deploy/k8s/experiment.pbtxt is a copy (kustomize reads no file
        # outside its folder): it must not drift from the default.
        with open(os.path.join(SOURCE, "configs/default.pbtxt")) as f:
            self.assertEqual(data[key], f.read(),
                             "deploy/k8s/experiment.pbtxt differs from configs/default.pbtxt")
        for flag, service in (("--store", "store"), ("--ranker", "ranker"),
                              ("--generator", "generator")):
            host = c["args"][c["args"].index(flag) + 1].split(":")[0]
            self.assertIn(host, self.by_kind["Service"], flag)

    def test_feedloop_accepts_every_command_line(self):
        # Each container's arguments parse: `feedloop <args> --help` fails
        # on an unknown flag or command before doing anything.
        for kind in ("StatefulSet", "Deployment", "Job"):
            for name, w in self.by_kind[kind].items():
                for c in w["spec"]["template"]["spec"]["containers"]:
                    self.assertEqual(c["image"], "localhost/feedloop:latest")
                    r = subprocess.run([FEEDLOOP] + c["args"] + ["--helpshort"],
                                       capture_output=True, text=True, timeout=30)
                    self.assertNotIn("Unknown command line flag", r.stderr, name)
                    self.assertNotIn("unknown command", r.stderr, name)


if __name__ == "__main__":
    unittest.main(verbosity=2)
