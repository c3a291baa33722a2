"""`migdra plugin --http-endpoint`: NVIDIA's DRA request metrics (names, labels, types) and
migdra's MIG metrics, scraped over HTTP while a kubelet stand-in prepares and unprepares claims."""

import re
import shutil
import socket
import tempfile
import unittest
import urllib.request

from kubelet_standin import FakeApiServer, Kubelet, Plugin, parse_args

ARGS = None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def samples(text):
    """{'name{labels}': value} of every sample line."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


class PluginMetricsTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="migdra-plugin-metrics-")
        self.api = FakeApiServer()
        self.port = free_port()
        self.plugin = Plugin(ARGS.migdra, self.root, self.api,
                             extra_args=("--http-endpoint", "127.0.0.1:%d" % self.port))
        self.plugin.start()
        self.kubelet = Kubelet(self.plugin)
        self.api.wait_published()

    def tearDown(self):
        self.kubelet.close()
        self.plugin.close()
        self.api.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def scrape(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.port, timeout=10) as r:
            self.assertIn("text/plain", r.headers["Content-Type"])
            return r.read().decode()

    def test_request_and_mig_metrics(self):
        text = self.scrape()
        for family, kind in [("nvidia_dra_requests_total", "counter"),
                             ("nvidia_dra_request_duration_seconds", "histogram"),
                             ("nvidia_dra_requests_inflight", "gauge"),
                             ("nvidia_dra_prepared_devices", "gauge"),
                             ("nvidia_dra_node_prepare_errors_total", "counter"),
                             ("nvidia_dra_node_unprepare_errors_total", "counter"),
                             ("migdra_mig_create_duration_seconds", "histogram"),
                             ("migdra_mig_destroy_duration_seconds", "histogram")]:
            self.assertIn("# TYPE %s %s\n" % (family, kind), text)
        s = samples(text)
        # Zero-valued series before the first request, as NVIDIA's driver pre-creates them.
        self.assertEqual(s['nvidia_dra_requests_total{driver="gpu.nvidia.com",operation="prepare"}'], 0)
        self.assertEqual(s['nvidia_dra_requests_inflight{driver="gpu.nvidia.com",operation="prepare"}'], 0)

        migs = self.api.small_migs()
        self.api.add_claim("default", "one", "uid-one", [migs[0]], "node-a")
        resp = self.kubelet.prepare([("default", "one", "uid-one"), ("default", "gone", "uid-gone")])
        self.assertEqual(resp.claims["uid-one"].error, "")
        s = samples(self.scrape())
        self.assertEqual(s['nvidia_dra_requests_total{driver="gpu.nvidia.com",operation="prepare"}'], 1)
        self.assertEqual(s['nvidia_dra_request_duration_seconds_count{driver="gpu.nvidia.com",operation="prepare"}'], 1)
        self.assertEqual(s['nvidia_dra_request_duration_seconds_bucket{driver="gpu.nvidia.com",operation="prepare",le="12.8"}'], 1)
        self.assertEqual(s['nvidia_dra_node_prepare_errors_total{driver="gpu.nvidia.com",error_type="prepare_devices"}'], 1)
        self.assertEqual(s['nvidia_dra_prepared_devices{node="node-a",driver="gpu.nvidia.com",device_type="mig"}'], 1)
        self.assertEqual(s['migdra_mig_create_duration_seconds_count{gpu="0",operation="gpu_instance"}'], 1)
        self.assertEqual(s['migdra_mig_create_duration_seconds_count{gpu="0",operation="compute_instance"}'], 1)
        profile = re.match(r"gpu-0-mig-(\d+)g(\d+)gb-", migs[0])
        live = [k for k in s if k.startswith("migdra_mig_instances{") and s[k] == 1]
        self.assertEqual(len(live), 1, live)
        self.assertIn('gpu="0"', live[0])
        self.assertIn('GPU_I_PROFILE="%sg.%sgb"' % profile.groups(), live[0])
        self.assertIn('migdra_gpu_healthy{gpu="0",UUID="GPU-', "\n".join(s))

        un = self.kubelet.unprepare([("default", "one", "uid-one")])
        self.assertEqual(un.claims["uid-one"].error, "")
        s = samples(self.scrape())
        self.assertEqual(s['nvidia_dra_requests_total{driver="gpu.nvidia.com",operation="unprepare"}'], 1)
        self.assertEqual(s['nvidia_dra_prepared_devices{node="node-a",driver="gpu.nvidia.com",device_type="mig"}'], 0)
        self.assertEqual(s['migdra_mig_destroy_duration_seconds_count{gpu="0",operation="gpu_instance"}'], 1)
        self.assertFalse([k for k in s if k.startswith("migdra_mig_instances{")])


if __name__ == "__main__":
    ARGS, argv = parse_args()
    unittest.main(argv=argv, verbosity=2)
