"""The bad inputs of the tracker issue (about 40 of them), each with what a user should see:
the exit code and the words of the message (file, object and field path with the value)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]
    files: dict[str, str | bytes] = field(default_factory=dict)
    code: int = 2
    stderr: tuple[str, ...] = ()  # each must appear in stderr
    stdout: tuple[str, ...] = ()  # each must appear in stdout


def pod(extra_container: str = "", extra_spec: str = "", meta: str = "") -> str:
    return (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web%s}\nspec:\n" % meta
        + extra_spec
        + "  containers:\n  - name: c\n    image: nginx\n"
        + extra_container
    )


def deployment(replicas: str = "2", template_meta: str = "{labels: {app: web}}", container: str = "") -> str:
    return (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n"
        f"  replicas: {replicas}\n  template:\n    metadata: {template_meta}\n    spec:\n"
        "      containers:\n      - name: c\n        image: nginx\n" + container
    )


def _preview(name: str, text: str, *fields: str, code: int = 2, extra: tuple[str, ...] = ()) -> Case:
    return Case(name, ("preview", "-f", "m.yaml", *extra), {"m.yaml": text}, code, ("m.yaml: document 1", *fields))


def _scenario(name: str, text: str, *words: str) -> Case:
    return Case(name, ("simulate", "s.yaml"), {"s.yaml": text}, 2, ("scenario s.yaml", *words))


ALIAS_BOMB = deployment(template_meta="""
      labels: {app: web}
      annotations:
        a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
        b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
        c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
        d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
        e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
        f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
        g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
        h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
        i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]""")

SCENARIO_HEAD = "name: t\nduration: 10m\nstep: 10s\n"
APPLY = SCENARIO_HEAD + "events:\n  - at: 0s\n    apply: |\n" + "".join(
    "      " + line + "\n" for line in deployment().splitlines()
)
KUBECONFIG_BROKEN = "apiVersion: v1\nkind: Config\nclusters: {prod: https://1.2.3.4}\ncurrent-context: prod\n"
MANAGED = "{labels: {app: web, smart-autoscaler.io/managed: 'true'}}"

CASES = [
    # ---- wrong types in a Pod (tracebacks before)
    _preview("resources-string", pod('    resources: "big"\n'), "spec.containers[0].resources: expected a mapping, got 'big'"),
    _preview("requests-list", pod("    resources: {requests: [1, 2]}\n"), "spec.containers[0].resources.requests: expected a mapping"),
    _preview("nodeSelector-list", pod(extra_spec="  nodeSelector: [a, b]\n"), "spec.nodeSelector: expected a mapping"),
    _preview("tolerations-string", pod(extra_spec="  tolerations: all\n"), "spec.tolerations: expected a list, got 'all'"),
    _preview("hostPort-name", pod("    ports: [{containerPort: 80, hostPort: http}]\n"), "spec.containers[0].ports[0].hostPort: expected an integer, got 'http'"),
    _preview("maxSkew-word", pod(extra_spec="  topologySpreadConstraints: [{maxSkew: one, topologyKey: zone, whenUnsatisfiable: DoNotSchedule}]\n"),
             "spec.topologySpreadConstraints[0].maxSkew: expected a positive integer, got 'one'"),
    _preview("priority-word", pod(extra_spec="  priority: high\n"), "spec.priority: expected an integer, got 'high'"),
    _preview("overhead-string", pod(extra_spec="  overhead: lots\n"), "spec.overhead: expected a mapping, got 'lots'"),
    _preview("ports-number", pod("    ports: 80\n"), "spec.containers[0].ports: expected a list, got 80"),
    _preview("matchExpressions-string", pod(extra_spec="  affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: x}]}}}\n"),
             "nodeSelectorTerms[0].matchExpressions: expected a list, got 'x'"),
    _preview("schedulingGates-strings", pod(extra_spec="  schedulingGates: [gate1]\n"), "spec.schedulingGates[0]: expected a mapping, got 'gate1'"),
    _preview("labelSelector-string", pod(extra_spec="  affinity: {podAntiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{topologyKey: kubernetes.io/hostname, labelSelector: app=x}]}}\n"),
             "requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector: expected a mapping, got 'app=x'"),
    # ---- quantities out of range, fractional or negative
    _preview("cpu-1e400", pod("    resources: {requests: {cpu: 1e400}}\n"), "spec.containers[0].resources.requests.cpu: is out of range", "'1e400'"),
    _preview("memory-8Ei", pod("    resources: {requests: {memory: 8Ei}}\n"), "spec.containers[0].resources.requests.memory: is out of range", "'8Ei'"),
    _preview("gpu-1e30", pod("    resources: {limits: {nvidia.com/gpu: 1e30}}\n"), "resources.limits[nvidia.com/gpu]: is out of range", "'1e30'"),
    _preview("gpu-fraction", pod('    resources: {limits: {nvidia.com/gpu: "1.5"}}\n'), "resources.limits[nvidia.com/gpu]: must be a whole number", "'1.5'"),
    _preview("cpu-negative", pod('    resources: {requests: {cpu: "-1"}}\n'), "requests.cpu: must be greater than or equal to 0", "'-1'"),
    _preview("memory-word", pod("    resources: {requests: {memory: plenty}}\n"), "requests.memory: is not a Kubernetes quantity", "'plenty'"),
    _preview("gpu-in-template", deployment(container='        resources: {limits: {nvidia.com/gpu: "0.5"}}\n'),
             "(Deployment web): spec.template.spec.containers[0].resources.limits[nvidia.com/gpu]: must be a whole number"),
    _preview("memory-total-beyond-int64", pod("    resources: {requests: {memory: 5Ei}}\n  - name: d\n    resources: {requests: {memory: 5Ei}}\n"),
             "spec.containers: the pod's memory requests add up to"),
    _preview("request-above-limit", pod("    resources: {requests: {cpu: 2}, limits: {cpu: 1}}\n"),
             "requests.cpu: must be less than or equal to the cpu limit of 1, got 2"),
    _preview("label-value-space", pod(meta=", labels: {app: 'a b'}"), "metadata.labels: label app:"),
    _preview("operator-unknown", pod(extra_spec="  tolerations: [{key: a, operator: Maybe}]\n"),
             "spec.tolerations[0].operator: expected one of"),
    # ---- bounded work
    _preview("replicas-billion", deployment("1000000000"), "(Deployment web): spec: would create 1,000,000,000 pods", "maximum of 100,000"),
    _preview("replicas-beyond-int32", deployment("3000000000"), "spec.replicas: expected a non-negative integer of at most 2,147,483,647"),
    _preview("alias-bomb", ALIAS_BOMB, "alias bomb"),
    _scenario("step-zero", "name: t\nduration: 1h\nstep: 0s\n", "step: must be more than 0s"),
    _scenario("step-negative", "name: t\nduration: 1h\nstep: -10\n", "step:", "negative"),
    _scenario("step-beyond-duration", "name: t\nduration: 1m\nstep: 2m\n", "step: 120s is longer than the duration"),
    _scenario("duration-100000d", "name: t\nduration: 100000d\n", "duration: must be at most 30d", "'100000d'"),
    _scenario("duration-zero", "name: t\nduration: 0s\n", "duration: must be more than 0s"),
    _scenario("event-after-end", "name: t\nduration: 10m\nevents: [{at: 20m, clearFaults: true}]\n",
              "events[0].at: 1200s is not before the end of the simulation"),
    # ---- scenario files (tracebacks before)
    _scenario("stockout-no-type", SCENARIO_HEAD + "events: [{at: 0s, stockout: {capacityType: spot}}]\n", "events[0].stockout.instanceType: missing"),
    _scenario("quota-no-type", SCENARIO_HEAD + "events: [{at: 0s, quota: {until: 5m}}]\n", "events[0].quota.instanceType: missing"),
    _scenario("slowLaunch-no-delay", SCENARIO_HEAD + "events: [{at: 0s, slowLaunch: {instanceType: m5.large}}]\n", "events[0].slowLaunch.delay: missing"),
    _scenario("config-list", SCENARIO_HEAD + "config: [1, 2]\n", "config: expected a mapping, got a list"),
    _scenario("cloudSimulator-word", SCENARIO_HEAD + "cloudSimulator: fast\n", "cloudSimulator: expected a mapping, got 'fast'"),
    _scenario("cloudSimulator-unknown-key", SCENARIO_HEAD + "cloudSimulator: {launchDelay: 30s, bootSpeed: fast}\n", "cloudSimulator.bootSpeed: unknown field"),
    _scenario("binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x00", "not UTF-8 text"),
    _scenario("apply-bad-manifest", APPLY.replace("replicas: 2", "replicas: two"), "events[0].apply", "spec.replicas: expected a non-negative integer, got 'two'"),
    _scenario("delete-unknown", APPLY + "  - at: 1m\n    delete: Deployment/default/nope\n", "events[1].delete: no workload 'Deployment/default/nope'"),
    _scenario("region-unknown", "name: t\ncloud: gcp\nregion: mars-9\n", "region", "unknown GCP region 'mars-9'"),
    # ---- configuration and kubeconfig
    Case("config-list-file", ("preview", "-f", "m.yaml", "--config", "c.yaml"), {"m.yaml": pod(), "c.yaml": "[1, 2]\n"}, 2,
         ("c.yaml", "configuration must be a mapping")),
    Case("config-binary", ("preview", "-f", "m.yaml", "--config", "c.yaml"), {"m.yaml": pod(), "c.yaml": b"\xff\xfe\x00\x01"}, 2,
         ("config file c.yaml: not UTF-8 text",)),
    Case("kubeconfig-broken", ("run", "--kubeconfig", "kc", "--once", "--no-leader-elect"), {"kc": KUBECONFIG_BROKEN}, 2,
         ("kubeconfig kc: clusters: expected a list, got a mapping",)),
    Case("kubeconfig-binary", ("run", "--kubeconfig", "kc", "--once", "--no-leader-elect"), {"kc": b"\x00\xff\xfe"}, 2,
         ("kubeconfig kc: not UTF-8 text",)),
    # ---- nothing silent
    Case("region-gcp-mars", ("preview", "-f", "m.yaml", "--target", "gcp:mars-9"), {"m.yaml": pod()}, 2, ("unknown GCP region 'mars-9'",)),
    Case("region-oci-mars", ("preview", "-f", "m.yaml", "--target", "oci:mars"), {"m.yaml": pod()}, 2, ("unknown OCI region 'mars'",)),
    Case("region-aws-mars", ("preview", "-f", "m.yaml", "--target", "aws:mars-1"), {"m.yaml": pod()}, 2, ("unknown AWS region 'mars-1'",)),
    Case("kinds-skipped", ("preview", "-f", "m.yaml"), {"m.yaml": pod() + "---\n" + deployment().replace("kind: Deployment", "kind: Deploymnet")
         + "---\napiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: canary}\nspec: {replicas: 3}\n"
         + "---\napiVersion: kubeflow.org/v1\nkind: PyTorchJob\nmetadata: {name: train}\nspec: {}\n"}, 0, (),
         ("== skipped ==", "m.yaml#2 Deploymnet/web: no pods: unknown kind 'Deploymnet'; did you mean Deployment?",
          "m.yaml#3 Rollout/canary: not expanded: Rollout (Argo Rollouts)", "m.yaml#4 PyTorchJob/train: not expanded")),
    Case("only-unknown-kinds", ("preview", "-f", "m.yaml"), {"m.yaml": "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: canary}\n"},
         2, ("error: no pods in m.yaml", "skipped m.yaml#1 Rollout/canary: not expanded")),
    Case("pods-needing-no-node", ("preview", "-f", "m.yaml"), {"m.yaml": deployment(template_meta=MANAGED)
         + "---\n" + pod(meta=", labels: {smart-autoscaler.io/managed: 'true'}", extra_spec="  nodeName: node-1\n").replace("name: web", "name: bound")
         + "---\n" + pod(meta=", labels: {smart-autoscaler.io/managed: 'true'}").replace("name: web", "name: done") + "status: {phase: Succeeded}\n"
         + "---\n" + pod().replace("name: web", "name: unlabelled")}, 0, (),
         ("pod default/bound: already bound to node node-1", "pod default/done: finished (phase Succeeded)",
          "pod default/unlabelled: not managed: lacks the managedPodLabels smart-autoscaler.io/managed=true")),
    Case("luna-annotations-unconfigured", ("preview", "-f", "m.yaml"),
         {"m.yaml": pod(meta=", annotations: {node.elotl.co/instance-gpu-skus: L4}")}, 0, (),
         ("node.elotl.co/instance-gpu-skus", "node.elotl.co/ is not in annotationPrefixes")),
    Case("annotation-misspelt", ("preview", "-f", "m.yaml"),
         {"m.yaml": pod(meta=", annotations: {smart-autoscaler.io/instance-gpu-sku: L4}")}, 0, (),
         ("annotation smart-autoscaler.io/instance-gpu-sku on default/web is not one the autoscaler reads (ignored); "
          "did you mean smart-autoscaler.io/instance-gpu-skus?",)),
]
