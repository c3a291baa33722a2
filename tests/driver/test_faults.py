"""Crash and fault tests of `migdra plugin` on nvmlsim: the plugin is killed (_exit(137) via
MIGDRA_CRASH_AT) after every step of prepare and unprepare, and NVML calls fail on purpose.
After a restart, every claim ends prepared exactly once or cleanly failed, no MIG instance is
leaked (nvmlsim's state file is the witness) and no instance serves two claims."""

import shutil
import tempfile
import time
import unittest

from kubelet_standin import FakeApiServer, Kubelet, Plugin, parse_args

ARGS = None

PREPARE_STEPS = ["intent-written", "gi-created", "ci-created", "cdi-written", "completed"]
UNPREPARE_STEPS = ["unprepare-started", "ci-destroyed", "gi-destroyed", "cdi-deleted",
                   "unprepare-completed"]


class FaultTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="migdra-faults-")
        self.api = FakeApiServer()
        self.plugin = None
        self.kubelet = None

    def tearDown(self):
        if self.kubelet:
            self.kubelet.close()
        if self.plugin:
            self.plugin.close()
        self.api.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def start(self, env=None):
        if self.kubelet:
            self.kubelet.close()
        if self.plugin is None:
            self.plugin = Plugin(ARGS.migdra, self.root, self.api)
        self.plugin.start(env)
        self.kubelet = Kubelet(self.plugin)
        self.api.wait_published()

    def crash_during(self, call):
        """Runs `call`, which must kill the plugin, and checks that it exited with 137."""
        try:
            call()
        except Exception:  # the RPC fails when the plugin dies
            pass
        self.assertEqual(self.plugin.wait(), 137, self.plugin.read_log())

    def assert_no_sharing(self, prepared_uuids):
        live = {u for (_, _, _, cis) in self.plugin.nvmlsim_instances() for u in cis}
        self.assertEqual(len(prepared_uuids), len(set(prepared_uuids)), "an instance is shared")
        self.assertEqual(set(prepared_uuids), live, "leaked or missing instances")

    def cdi_uuid(self, uid):
        spec = self.plugin.cdi_spec(uid)
        self.assertIsNotNone(spec, "no CDI spec for " + uid)
        env = [e for e in spec["containerEdits"]["env"] if e.startswith("NVIDIA_VISIBLE_DEVICES=")]
        return env[0].split("=", 1)[1]

    def test_crash_after_each_prepare_step(self):
        for step in PREPARE_STEPS:
            with self.subTest(step=step):
                self.setUp_fresh()
                migs = self.api.small_migs()
                self.api.add_claim("default", "keep", "uid-keep", [migs[0]], "node-a")
                self.api.add_claim("default", "c", "uid-c", [migs[1]], "node-a")
                self.assertEqual(self.kubelet.prepare([("default", "keep", "uid-keep")])
                                 .claims["uid-keep"].error, "")
                self.plugin.stop()
                self.start({"MIGDRA_CRASH_AT": step})
                self.crash_during(lambda: self.kubelet.prepare([("default", "c", "uid-c")]))
                self.start()
                # After recovery: the earlier claim is intact; the crashed one is either fully
                # prepared (crash after completion) or not at all.
                live = self.plugin.nvmlsim_instances()
                expected = 2 if step == "completed" else 1
                self.assertEqual(len(live), expected, (step, live, self.plugin.read_log()))
                # The kubelet retries; the claim ends prepared exactly once.
                resp = self.kubelet.prepare([("default", "c", "uid-c"),
                                             ("default", "keep", "uid-keep")])
                self.assertEqual(resp.claims["uid-c"].error, "")
                self.assertEqual(resp.claims["uid-keep"].error, "")
                self.assert_no_sharing([self.cdi_uuid("uid-c"), self.cdi_uuid("uid-keep")])
                un = self.kubelet.unprepare([("default", "c", "uid-c"),
                                             ("default", "keep", "uid-keep")])
                self.assertEqual(un.claims["uid-c"].error, "")
                self.assertEqual(self.plugin.nvmlsim_instances(), [])

    def test_crash_after_each_unprepare_step(self):
        for step in UNPREPARE_STEPS:
            with self.subTest(step=step):
                self.setUp_fresh()
                migs = self.api.small_migs()
                self.api.add_claim("default", "c", "uid-c", [migs[0]], "node-a")
                self.assertEqual(self.kubelet.prepare([("default", "c", "uid-c")])
                                 .claims["uid-c"].error, "")
                self.plugin.stop()
                self.start({"MIGDRA_CRASH_AT": step})
                self.crash_during(lambda: self.kubelet.unprepare([("default", "c", "uid-c")]))
                self.start()
                # Recovery finishes the unprepare it had started.
                self.assertEqual(self.plugin.nvmlsim_instances(), [], self.plugin.read_log())
                self.assertIsNone(self.plugin.cdi_spec("uid-c"))
                un = self.kubelet.unprepare([("default", "c", "uid-c")])
                self.assertEqual(un.claims["uid-c"].error, "")

    def test_nvml_create_failure_is_clean_and_retryable(self):
        self.setUp_fresh(env={"MIGDRA_NVMLSIM_FAULTS":
                              "nvmlGpuInstanceCreateComputeInstance:1:999"})
        migs = self.api.small_migs()
        self.api.add_claim("default", "c", "uid-c", [migs[0]], "node-a")
        first = self.kubelet.prepare([("default", "c", "uid-c")])
        self.assertIn("compute instance", first.claims["uid-c"].error)
        self.assertEqual(self.plugin.nvmlsim_instances(), [])
        self.assertIsNone(self.plugin.cdi_spec("uid-c"))
        second = self.kubelet.prepare([("default", "c", "uid-c")])
        self.assertEqual(second.claims["uid-c"].error, "")
        self.assert_no_sharing([self.cdi_uuid("uid-c")])

    def test_in_use_is_reported_then_finished_after_restart(self):
        self.setUp_fresh()
        migs = self.api.small_migs()
        self.api.add_claim("default", "c", "uid-c", [migs[0]], "node-a")
        self.assertEqual(self.kubelet.prepare([("default", "c", "uid-c")]).claims["uid-c"].error,
                         "")
        self.plugin.stop()
        self.start({"MIGDRA_NVMLSIM_FAULTS": "nvmlComputeInstanceDestroy:0:19"})
        un = self.kubelet.unprepare([("default", "c", "uid-c")])
        self.assertIn("in use", un.claims["uid-c"].error)
        self.assertEqual(len(self.plugin.nvmlsim_instances()), 1)
        self.plugin.stop()
        self.start()
        self.assertEqual(self.plugin.nvmlsim_instances(), [])

    def test_corrupt_checkpoint_does_not_crash_loop(self):
        self.setUp_fresh()
        migs = self.api.small_migs()
        self.api.add_claim("default", "c", "uid-c", [migs[0]], "node-a")
        self.assertEqual(self.kubelet.prepare([("default", "c", "uid-c")]).claims["uid-c"].error,
                         "")
        self.plugin.stop()
        with open(self.plugin.state + "/checkpoint.json", "r+") as f:
            f.seek(10)
            f.write("garbage")
        self.start()
        self.assertIn("rebuilding", self.plugin.read_log())
        # Rebuilt from nvmlsim and the API server: unprepare still cleans up.
        un = self.kubelet.unprepare([("default", "c", "uid-c")])
        self.assertEqual(un.claims["uid-c"].error, "")
        self.assertEqual(self.plugin.nvmlsim_instances(), [])

    def corrupt_checkpoint(self):
        with open(self.plugin.state + "/checkpoint.json", "r+") as f:
            f.seek(10)
            f.write("garbage")

    def test_corrupt_checkpoint_after_a_crash_mid_prepare_leaves_no_orphan(self):
        """The record of a prepare cut short is lost with the checkpoint: what the prepare made
        is found and destroyed at start-up, and the kubelet's retry prepares the claim."""
        for step, claim_deleted in [("gi-created", False), ("ci-created", True)]:
            with self.subTest(step=step, claim_deleted=claim_deleted):
                self.setUp_fresh()
                migs = self.api.small_migs()
                self.api.add_claim("default", "keep", "uid-keep", [migs[0]], "node-a")
                self.api.add_claim("default", "c", "uid-c", [migs[1]], "node-a")
                self.assertEqual(self.kubelet.prepare([("default", "keep", "uid-keep")])
                                 .claims["uid-keep"].error, "")
                self.plugin.stop()
                self.start({"MIGDRA_CRASH_AT": step})
                self.crash_during(lambda: self.kubelet.prepare([("default", "c", "uid-c")]))
                self.assertEqual(len(self.plugin.nvmlsim_instances()), 2)
                self.corrupt_checkpoint()
                if claim_deleted:  # the pod went away while the plugin was down
                    del self.api.claims[("default", "c")]
                self.start()
                log = self.plugin.read_log()
                self.assertIn("rebuilding", log)
                self.assertEqual(len(self.plugin.nvmlsim_instances()), 1, log)
                if not claim_deleted:
                    resp = self.kubelet.prepare([("default", "c", "uid-c")])
                    self.assertEqual(resp.claims["uid-c"].error, "", log)
                    self.assert_no_sharing([self.cdi_uuid("uid-c"), self.cdi_uuid("uid-keep")])
                resp = self.kubelet.prepare([("default", "keep", "uid-keep")])
                self.assertEqual(resp.claims["uid-keep"].error, "")
                claims = [("default", "keep", "uid-keep")] + \
                    ([] if claim_deleted else [("default", "c", "uid-c")])
                un = self.kubelet.unprepare(claims)
                self.assertTrue(all(r.error == "" for r in un.claims.values()), un)
                self.assertEqual(self.plugin.nvmlsim_instances(), [])

    def test_corrupt_checkpoint_never_touches_static_mig(self):
        """Under static MIG (--dynamic-mig=none) an instance no claim accounts for stays."""
        self.setUp_fresh()
        migs = self.api.small_migs()
        self.api.add_claim("default", "c", "uid-c", [migs[0]], "node-a")
        self.assertEqual(self.kubelet.prepare([("default", "c", "uid-c")]).claims["uid-c"].error,
                         "")
        self.plugin.stop()
        self.corrupt_checkpoint()
        del self.api.claims[("default", "c")]
        self.plugin.args += ["--dynamic-mig", "none"]
        self.start()
        self.assertIn("rebuilding", self.plugin.read_log())
        self.assertEqual(len(self.plugin.nvmlsim_instances()), 1, self.plugin.read_log())

    def setUp_fresh(self, env=None):
        """A new node: fresh folders and nvmlsim state, the plugin started."""
        if self.kubelet:
            self.kubelet.close()
            self.kubelet = None
        if self.plugin:
            self.plugin.close()
            self.plugin = None
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = tempfile.mkdtemp(prefix="migdra-faults-")
        self.api.slices.clear()
        self.api.claims.clear()
        self.plugin = Plugin(ARGS.migdra, self.root, self.api, extra_env=env)
        self.start()


if __name__ == "__main__":
    ARGS, argv = parse_args()
    unittest.main(argv=argv, verbosity=2)
