"""`migdra plugin` driven by a kubelet stand-in: registration, prepare and unprepare over v1
and v1beta1, CDI specs, ResourceSlices published to the API server, claims read from it."""

import os
import shutil
import stat
import sys
import tempfile
import time
import unittest

from kubelet_standin import FakeApiServer, Kubelet, Plugin, parse_args

ARGS = None


class PluginTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="migdra-plugin-")
        self.api = FakeApiServer()
        self.plugin = Plugin(ARGS.migdra, self.root, self.api)
        self.plugin.start()
        self.kubelet = Kubelet(self.plugin)
        self.api.wait_published()

    def tearDown(self):
        self.kubelet.close()
        self.plugin.close()
        self.api.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def test_registration_and_socket_modes(self):
        info = self.kubelet.register()
        self.assertEqual(info.type, "DRAPlugin")
        self.assertEqual(info.name, "gpu.nvidia.com")
        self.assertEqual(info.endpoint, self.plugin.dra_socket)
        self.assertEqual(list(info.supported_versions), ["v1.DRAPlugin", "v1beta1.DRAPlugin"])
        for sock in (self.plugin.dra_socket, self.plugin.reg_socket):
            self.assertEqual(stat.S_IMODE(os.stat(sock).st_mode), 0o600, sock)

    def test_publishes_slices_of_its_node(self):
        migs = self.api.small_migs()
        self.assertTrue(migs, "no MIG devices published")
        self.assertTrue(all(n.startswith("gpu-") and "-mig-" in n for n in migs))
        for s in self.api.slices.values():
            self.assertEqual(s["spec"]["driver"], "gpu.nvidia.com")
            self.assertEqual(s["spec"]["pool"]["name"], "node-a")

    def prepare_cycle(self, version):
        migs = self.api.small_migs()
        uid = "uid-" + version
        self.api.add_claim("default", "claim-" + version, uid, [migs[0]], "node-a")
        resp = self.kubelet.prepare([("default", "claim-" + version, uid)], version=version)
        result = resp.claims[uid]
        self.assertEqual(result.error, "")
        self.assertEqual(len(result.devices), 1)
        dev = result.devices[0]
        self.assertEqual(dev.device_name, migs[0])
        self.assertEqual(dev.pool_name, "node-a")
        self.assertEqual(list(dev.request_names), ["r0"])
        self.assertEqual(list(dev.cdi_device_ids),
                         ["k8s.gpu.nvidia.com/claim=%s-%s" % (uid, migs[0])])
        instances = self.plugin.nvmlsim_instances()
        self.assertEqual(len(instances), 1)
        mig_uuid = instances[0][3][0]
        spec = self.plugin.cdi_spec(uid)
        self.assertEqual(spec["kind"], "k8s.gpu.nvidia.com/claim")
        self.assertIn("NVIDIA_VISIBLE_DEVICES=" + mig_uuid, spec["containerEdits"]["env"])
        # Idempotent: the same answer again, no new instance.
        again = self.kubelet.prepare([("default", "claim-" + version, uid)], version=version)
        self.assertEqual(list(again.claims[uid].devices[0].cdi_device_ids),
                         list(dev.cdi_device_ids))
        self.assertEqual(len(self.plugin.nvmlsim_instances()), 1)
        un = self.kubelet.unprepare([("default", "claim-" + version, uid)], version=version)
        self.assertEqual(un.claims[uid].error, "")
        self.assertEqual(self.plugin.nvmlsim_instances(), [])
        self.assertIsNone(self.plugin.cdi_spec(uid))

    def test_prepare_unprepare_v1(self):
        self.prepare_cycle("v1")

    def test_prepare_unprepare_v1beta1(self):
        self.prepare_cycle("v1beta1")

    def test_every_claim_gets_an_answer(self):
        migs = self.api.small_migs()
        self.api.add_claim("default", "good", "uid-good", [migs[0]], "node-a")
        self.api.add_claim("default", "recreated", "uid-new", [migs[1]], "node-a")
        resp = self.kubelet.prepare([("default", "good", "uid-good"),
                                     ("default", "recreated", "uid-old"),
                                     ("default", "missing", "uid-missing")])
        self.assertEqual(resp.claims["uid-good"].error, "")
        self.assertIn("re-created", resp.claims["uid-old"].error)
        self.assertIn("not found", resp.claims["uid-missing"].error)
        self.assertEqual(len(self.plugin.nvmlsim_instances()), 1)
        un = self.kubelet.unprepare([("default", "good", "uid-good"),
                                     ("default", "never", "uid-never")])
        self.assertEqual(un.claims["uid-good"].error, "")
        self.assertEqual(un.claims["uid-never"].error, "")
        self.assertEqual(self.plugin.nvmlsim_instances(), [])

    def test_refuses_mps(self):
        migs = self.api.small_migs()
        config = [{"source": "FromClaim", "requests": [], "opaque": {
            "driver": "gpu.nvidia.com",
            "parameters": {"apiVersion": "resource.nvidia.com/v1beta1", "kind": "MigDeviceConfig",
                           "sharing": {"strategy": "MPS"}}}}]
        self.api.add_claim("default", "mps", "uid-mps", [migs[0]], "node-a", config=config)
        resp = self.kubelet.prepare([("default", "mps", "uid-mps")])
        self.assertIn("MPS", resp.claims["uid-mps"].error)
        self.assertEqual(self.plugin.nvmlsim_instances(), [])


if __name__ == "__main__":
    ARGS, argv = parse_args()
    unittest.main(argv=argv, verbosity=2)
