// Unit tests of the allocator, one (or a few) per rule of reference/k8s-dra-semantics.md §2/§7
// and per placement rule of the `pack` strategy. Slices are built by hand (or by synthetic.h).
#include "alloc/allocator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "alloc/synthetic.h"

namespace migdra::alloc {
namespace {

using ::testing::HasSubstr;

api::Quantity Q(int64_t v) { return api::Quantity::FromInt(v); }

api::DeviceAttribute Str(std::string v) {
  api::DeviceAttribute a;
  a.string_value = std::move(v);
  return a;
}
api::DeviceAttribute Int(int64_t v) {
  api::DeviceAttribute a;
  a.int_value = v;
  return a;
}

api::Device Dev(std::string name, std::map<std::string, api::DeviceAttribute> attrs = {}) {
  api::Device d;
  d.name = std::move(name);
  d.attributes = std::move(attrs);
  return d;
}

api::ResourceSlice Slice(std::string name, std::string pool, std::vector<api::Device> devices,
                         std::string node = "node-a", std::string driver = "dra.example.com") {
  api::ResourceSlice s;
  s.metadata.name = std::move(name);
  s.spec.driver = std::move(driver);
  s.spec.pool.name = std::move(pool);
  s.spec.pool.generation = 1;
  s.spec.pool.resource_slice_count = 1;
  s.spec.node_name = std::move(node);
  s.spec.devices = std::move(devices);
  return s;
}

api::DeviceClass Class(std::string name, std::vector<std::string> selectors = {}) {
  api::DeviceClass c;
  c.metadata.name = std::move(name);
  for (auto& s : selectors) c.spec.selectors.push_back({api::CELDeviceSelector{std::move(s)}});
  return c;
}

api::DeviceRequest Exactly(std::string name, std::string cls, int64_t count = 1) {
  api::DeviceRequest r;
  r.name = std::move(name);
  r.exactly.emplace();
  r.exactly->device_class_name = std::move(cls);
  r.exactly->count = count;
  return r;
}

api::DeviceRequest AllOf(std::string name, std::string cls) {
  api::DeviceRequest r = Exactly(std::move(name), std::move(cls));
  r.exactly->count.reset();
  r.exactly->allocation_mode = "All";
  return r;
}

api::ResourceClaim Claim(std::string name, std::vector<api::DeviceRequest> requests) {
  api::ResourceClaim c;
  c.metadata.name = std::move(name);
  c.metadata.namespace_ = "default";
  c.spec.devices.requests = std::move(requests);
  return c;
}

api::Node Node(std::string name, std::map<std::string, std::string> labels = {}) {
  api::Node n;
  n.metadata.name = std::move(name);
  n.metadata.labels = std::move(labels);
  return n;
}

// Owns the inputs of one test.
struct World {
  std::vector<api::ResourceSlice> slices;
  std::vector<api::DeviceClass> classes{Class("any")};
  std::vector<api::ResourceClaim> allocated;

  AllocatorInput Input() const {
    AllocatorInput in;
    for (const auto& s : slices) in.slices.push_back(&s);
    for (const auto& c : classes) in.classes.push_back(&c);
    for (const auto& c : allocated) in.allocated_claims.push_back(&c);
    return in;
  }

  Result<Outcome> Run(std::vector<api::ResourceClaim> claims, Strategy strategy,
                      api::Node node = Node("node-a")) const {
    std::vector<const api::ResourceClaim*> ptrs;
    for (const auto& c : claims) ptrs.push_back(&c);
    Options o;
    o.strategy = strategy;
    o.share_id_seed = 1;
    return Allocate(Input(), node, ptrs, o);
  }
};

// Devices chosen for each claim, "request=pool/device".
std::vector<std::vector<std::string>> Chosen(const Outcome& outcome) {
  std::vector<std::vector<std::string>> out;
  for (const auto& a : outcome.allocations) {
    std::vector<std::string> v;
    for (const auto& r : a.devices.results) v.push_back(r.request + "=" + r.pool + "/" + r.device);
    out.push_back(v);
  }
  return out;
}

std::vector<std::string> Only(const Result<Outcome>& r) {
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().ToString());
  if (!r.ok()) return {};
  EXPECT_TRUE(r->fits) << r->reason;
  if (!r->fits || r->allocations.size() != 1) return {};
  return Chosen(*r)[0];
}

api::ResourceClaim Allocated(std::string name, std::string pool, std::string device,
                             std::string driver = "dra.example.com") {
  api::ResourceClaim c = Claim(std::move(name), {Exactly("r", "any")});
  c.status.allocation.emplace();
  api::DeviceRequestAllocationResult r;
  r.request = "r";
  r.driver = std::move(driver);
  r.pool = std::move(pool);
  r.device = std::move(device);
  c.status.allocation->devices.results.push_back(r);
  return c;
}

// ---- order and basic modes ------------------------------------------------------------------

TEST(Order, KubernetesTakesFirstDeviceOfFirstPoolByDriverAndPool) {
  World w;
  w.slices.push_back(Slice("s-z", "pool-b", {Dev("b0")}));
  w.slices.push_back(Slice("s-a", "pool-a", {Dev("a1"), Dev("a0")}));
  EXPECT_EQ(Only(w.Run({Claim("c", {Exactly("r", "any")})}, Strategy::kKubernetes)),
            std::vector<std::string>{"r=pool-a/a1"});
}

TEST(Order, SlicesOfAPoolAreVisitedByName) {
  World w;
  auto s1 = Slice("slice-2", "p", {Dev("late")});
  auto s2 = Slice("slice-1", "p", {Dev("early")});
  s1.spec.pool.resource_slice_count = s2.spec.pool.resource_slice_count = 2;
  w.slices = {s1, s2};
  EXPECT_EQ(Only(w.Run({Claim("c", {Exactly("r", "any")})}, Strategy::kKubernetes)),
            std::vector<std::string>{"r=p/early"});
}

TEST(Order, PoolsWithBindingConditionsComeLast) {
  World w;
  auto bound = Dev("a0");
  bound.binding_conditions = {"ready"};
  w.slices.push_back(Slice("s1", "a", {bound}));
  w.slices.push_back(Slice("s2", "b", {Dev("b0")}));
  EXPECT_EQ(Only(w.Run({Claim("c", {Exactly("r", "any")})}, Strategy::kKubernetes)),
            std::vector<std::string>{"r=b/b0"});
}

TEST(ExactCount, TakesCountDevicesAndSkipsAllocatedOnes) {
  World w;
  w.slices.push_back(Slice("s", "p", {Dev("d0"), Dev("d1"), Dev("d2")}));
  w.allocated.push_back(Allocated("old", "p", "d0"));
  EXPECT_EQ(Only(w.Run({Claim("c", {Exactly("r", "any", 2)})}, Strategy::kKubernetes)),
            (std::vector<std::string>{"r=p/d1", "r=p/d2"}));
}

TEST(ExactCount, DoesNotFitWhenTooFewDevicesAndSaysHowMany) {
  World w;
  w.slices.push_back(Slice("s", "p", {Dev("d0"), Dev("d1")}));
  auto r = w.Run({Claim("c", {Exactly("gpu", "any", 3)})}, Strategy::kKubernetes);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->fits);
  EXPECT_THAT(r->reason, HasSubstr("request gpu: 2 of 2 matching devices free, 3 needed"));
}

TEST(AllMode, TakesEveryMatchingDevice) {
  World w;
  w.slices.push_back(Slice("s", "p", {Dev("d0"), Dev("d1"), Dev("d2")}));
  EXPECT_EQ(Only(w.Run({Claim("c", {AllOf("r", "any")})}, Strategy::kPack)),
            (std::vector<std::string>{"r=p/d0", "r=p/d1", "r=p/d2"}));
}

TEST(AllMode, DoesNotFitWhenOneMatchingDeviceIsInUse) {
  World w;
  w.slices.push_back(Slice("s", "p", {Dev("d0"), Dev("d1")}));
  w.allocated.push_back(Allocated("old", "p", "d1"));
  auto r = w.Run({Claim("c", {AllOf("r", "any")})}, Strategy::kKubernetes);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->fits);
}

TEST(AllMode, IncompletePoolIsAnError) {
  World w;
  auto s = Slice("s", "p", {Dev("d0")});
  s.spec.pool.resource_slice_count = 2;
  w.slices.push_back(s);
  auto r = w.Run({Claim("c", {AllOf("r", "any")})}, Strategy::kKubernetes);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("is currently being updated"));
}

TEST(Pools, IncompletePoolIsSkippedForExactCount) {
  World w;
  auto s = Slice("s1", "a", {Dev("a0")});
  s.spec.pool.resource_slice_count = 2;
  w.slices.push_back(s);
  w.slices.push_back(Slice("s2", "b", {Dev("b0")}));
  EXPECT_EQ(Only(w.Run({Claim("c", {Exactly("r", "any")})}, Strategy::kKubernetes)),
            std::vector<std::string>{"r=b/b0"});
}

TEST(Pools, OlderGenerationIsIgnored) {
  World w;
  auto old_slice = Slice("s1", "p", {Dev("old")});
  auto new_slice = Slice("s2", "p", {Dev("new")});
  new_slice.spec.pool.generation = 2;
  w.slices = {old_slice, new_slice};
  EXPECT_EQ(Only(w.Run({Claim("c", {Exactly("r", "any")})}, Strategy::kKubernetes)),
            std::vector<std::string>{"r=p/new"});
}

TEST(Pools, EachNodeSeesTheNewestGenerationOfItsOwnSlices) {
  // A pool moving from node-a (generation 1) to node-b (generation 2): node-a still has a complete
  // generation of its own and allocates from it, as upstream (its
  // multi-host-resource-pool-complete-update-from-node-1-to-node-2). A device allocated by name is
  // in use in every generation.
  World w;
  auto old_slice = Slice("s1", "p", {Dev("d0"), Dev("d1")}, "node-a");
  auto new_slice = Slice("s2", "p", {Dev("d0"), Dev("d1")}, "node-b");
  new_slice.spec.pool.generation = 2;
  w.slices = {old_slice, new_slice};
  w.allocated.push_back(Allocated("old", "p", "d0"));
  for (const char* node : {"node-a", "node-b"}) {
    EXPECT_EQ(Only(w.Run({Claim("c", {Exactly("r", "any")})}, Strategy::kKubernetes, Node(node))),
              std::vector<std::string>{"r=p/d1"})
        << node;
  }
  // With one slice of generation 2 left out, node-a's generation 1 is obsolete.
  w.slices[0].spec.pool.resource_slice_count = 2;
  w.slices[1].spec.pool.resource_slice_count = 2;
  auto r = w.Run({Claim("c", {Exactly("r", "any")})}, Strategy::kKubernetes, Node("node-a"));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->fits);
}

TEST(Pools, InvalidPoolIsSkippedAndReportedOnlyWhenNothingFits) {
  World w;
  w.slices.push_back(Slice("s1", "a", {Dev("x"), Dev("x")}));
  w.slices.push_back(Slice("s2", "b", {Dev("b0")}));
  EXPECT_EQ(Only(w.Run({Claim("c", {Exactly("r", "any")})}, Strategy::kKubernetes)),
            std::vector<std::string>{"r=b/b0"});
  auto r = w.Run({Claim("c", {Exactly("r", "any", 2)})}, Strategy::kKubernetes);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message,
              HasSubstr("invalid resource pools were encountered: dra.example.com/a"));
}

TEST(Pools, ADeviceNameIsCheckedOnlyAmongTheSlicesOfTheNode) {
  // One pool over two nodes whose slices both name their device x: valid for each node, as
  // upstream's buildPool checks names among the slices gathered for the node. A third slice
  // repeating x on node-a makes the pool invalid there only.
  World w;
  for (std::string node : {"node-a", "node-b"}) {
    w.slices.push_back(Slice("s-" + node, "p", {Dev("x")}, node));
    w.slices.back().spec.pool.resource_slice_count = 2;
  }
  for (std::string node : {"node-a", "node-b"}) {
    EXPECT_EQ(Only(w.Run({Claim("c", {Exactly("r", "any")})}, Strategy::kKubernetes, Node(node))),
              std::vector<std::string>{"r=p/x"});
  }
  for (auto& s : w.slices) s.spec.pool.resource_slice_count = 3;
  w.slices.push_back(Slice("s-node-a-2", "p", {Dev("x")}, "node-a"));
  w.slices.back().spec.pool.resource_slice_count = 3;
  auto a = w.Run({Claim("c", {Exactly("r", "any")})}, Strategy::kKubernetes, Node("node-a"));
  ASSERT_FALSE(a.ok());
  EXPECT_THAT(a.error().message, HasSubstr("duplicate device name x"));
  EXPECT_EQ(Only(w.Run({Claim("c", {Exactly("r", "any")})}, Strategy::kKubernetes, Node("node-b"))),
            std::vector<std::string>{"r=p/x"});
}

TEST(Limits, MoreThan32ResultsIsAnError) {
  World w;
  auto r = w.Run({Claim("c", {Exactly("a", "any", 20), Exactly("b", "any", 13)})},
                 Strategy::kKubernetes);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("exceeds the claim limit of 32"));
}

TEST(Errors, UnknownClassIsAnError) {
  World w;
  w.slices.push_back(Slice("s", "p", {Dev("d0")}));
  auto r = w.Run({Claim("c", {Exactly("r", "nope")})}, Strategy::kKubernetes);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("could not retrieve device class nope"));
}

// ---- backtracking ---------------------------------------------------------------------------

TEST(Backtracking, WithinOneClaimUndoesAWrongFirstPick) {
  // "small" can use either device, "large" only d1 (by selector): first fit must back off d1.
  World w;
  w.classes.push_back(Class("large", {"device.attributes['dra.example.com'].size == 'large'"}));
  w.slices.push_back(
      Slice("s", "p", {Dev("d0", {{"size", Str("large")}}), Dev("d1", {{"size", Str("small")}})}));
  auto r = w.Run({Claim("c", {Exactly("small", "any"), Exactly("large", "large")})},
                 Strategy::kKubernetes);
  EXPECT_EQ(Only(r), (std::vector<std::string>{"small=p/d1", "large=p/d0"}));
}

TEST(Backtracking, AcrossClaims) {
  World w;
  w.classes.push_back(Class("large", {"device.attributes['dra.example.com'].size == 'large'"}));
  w.slices.push_back(
      Slice("s", "p", {Dev("d0", {{"size", Str("large")}}), Dev("d1", {{"size", Str("small")}})}));
  auto r = w.Run({Claim("c1", {Exactly("r", "any")}), Claim("c2", {Exactly("r", "large")})},
                 Strategy::kKubernetes);
  ASSERT_TRUE(r.ok() && r->fits);
  EXPECT_EQ(Chosen(*r), (std::vector<std::vector<std::string>>{{"r=p/d1"}, {"r=p/d0"}}));
}

TEST(FirstAvailable, FallsBackToTheNextSubrequest) {
  World w;
  w.classes.push_back(Class("big", {"device.attributes['dra.example.com'].size == 'big'"}));
  w.slices.push_back(Slice("s", "p", {Dev("d0", {{"size", Str("small")}})}));
  api::DeviceRequest req;
  req.name = "gpu";
  req.first_available = {{"big", "big", {}, "", 1, {}, {}}, {"small", "any", {}, "", 1, {}, {}}};
  EXPECT_EQ(Only(w.Run({Claim("c", {req})}, Strategy::kKubernetes)),
            std::vector<std::string>{"gpu/small=p/d0"});
}

TEST(FirstAvailable, BacktracksIntoAnEarlierChoiceWhenALaterRequestFails) {
  // gpu prefers 1 device of any, but then "other" (needs d0 by selector) cannot fit unless gpu
  // falls back to its second subrequest, which takes d1.
  World w;
  w.classes.push_back(Class("only-d0", {"device.attributes['dra.example.com'].id == 'zero'"}));
  w.classes.push_back(Class("only-d1", {"device.attributes['dra.example.com'].id == 'one'"}));
  w.slices.push_back(
      Slice("s", "p", {Dev("d0", {{"id", Str("zero")}}), Dev("d1", {{"id", Str("one")}})}));
  api::DeviceRequest gpu;
  gpu.name = "gpu";
  gpu.first_available = {{"first", "any", {}, "", 1, {}, {}},
                         {"second", "only-d1", {}, "", 1, {}, {}}};
  auto r = w.Run({Claim("c", {gpu, Exactly("other", "only-d0")})}, Strategy::kKubernetes);
  EXPECT_EQ(Only(r), (std::vector<std::string>{"gpu/first=p/d1", "other=p/d0"}));
}

TEST(FirstAvailable, ResultLimitFallsBackWithoutTryingOtherDevicesOfTheSameCount) {
  // Upstream's prioritized-list-max-allocation-limit-request: after a/first takes 32 devices no
  // subrequest of b fits under the 32-results limit, whichever 32 they are, so a falls back to its
  // 16-device subrequest at once instead of trying the other combinations of 32 out of 64.
  World w;
  std::vector<api::Device> devices;
  for (int i = 0; i < 64; ++i) devices.push_back(Dev("d" + std::to_string(i)));
  w.slices.push_back(Slice("s", "p", devices));
  auto prioritized = [](std::string name) {
    api::DeviceRequest r;
    r.name = std::move(name);
    r.first_available = {{"first", "any", {}, "", 32, {}, {}},
                         {"second", "any", {}, "", 16, {}, {}}};
    return r;
  };
  auto claim = Claim("c", {prioritized("a"), prioritized("b")});
  const api::ResourceClaim* ptr = &claim;
  for (Strategy strategy : {Strategy::kKubernetes, Strategy::kPack}) {
    Options o;
    o.strategy = strategy;
    // 32 picks for a/first, 16 for a/second, then b/second passes a's 16 on its way to 16 more.
    o.step_budget = 32 + 16 + 32;
    auto r = Allocate(w.Input(), Node("node-a"), std::span(&ptr, 1), o);
    auto chosen = Only(r);
    ASSERT_EQ(chosen.size(), 32u) << StrategyName(strategy);
    EXPECT_EQ(chosen.front(), "a/second=p/d0");
    EXPECT_EQ(chosen.back(), "b/second=p/d31");
  }
}

// ---- constraints ----------------------------------------------------------------------------

TEST(Constraints, MatchAttributeWithQualifiedAndDriverDomainNames) {
  World w;
  w.slices.push_back(Slice("s", "p",
                           {Dev("a0", {{"numa", Int(0)}}), Dev("a1", {{"numa", Int(1)}}),
                            Dev("a2", {{"dra.example.com/numa", Int(1)}})}));
  auto claim = Claim("c", {Exactly("r", "any", 2)});
  claim.spec.devices.constraints.push_back({{}, "dra.example.com/numa", std::nullopt});
  EXPECT_EQ(Only(w.Run({claim}, Strategy::kKubernetes)),
            (std::vector<std::string>{"r=p/a1", "r=p/a2"}));
}

TEST(Constraints, MatchAttributeThatNoPairSatisfiesDoesNotFit) {
  World w;
  w.slices.push_back(
      Slice("s", "p", {Dev("a0", {{"numa", Int(0)}}), Dev("a1", {{"numa", Int(1)}})}));
  auto claim = Claim("c", {Exactly("r", "any", 2)});
  claim.spec.devices.constraints.push_back({{"r"}, "dra.example.com/numa", std::nullopt});
  auto r = w.Run({claim}, Strategy::kPack);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->fits);
  EXPECT_THAT(r->reason, HasSubstr("matchAttribute dra.example.com/numa"));
}

TEST(Constraints, MatchAttributeOfAThirdPartyDomainNeedsTheQualifiedName) {
  World w;
  w.slices.push_back(
      Slice("s", "p", {Dev("a0", {{"numa", Int(0)}}), Dev("a1", {{"numa", Int(0)}})}));
  auto claim = Claim("c", {Exactly("r", "any", 2)});
  claim.spec.devices.constraints.push_back({{}, "other.example.com/numa", std::nullopt});
  auto r = w.Run({claim}, Strategy::kKubernetes);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->fits);
}

TEST(Constraints, DistinctAttributeComparesValues) {
  World w;
  w.slices.push_back(Slice("s", "p",
                           {Dev("a0", {{"numa", Int(0)}}), Dev("a1", {{"numa", Int(0)}}),
                            Dev("a2", {{"numa", Int(1)}})}));
  auto claim = Claim("c", {Exactly("r", "any", 2)});
  claim.spec.devices.constraints.push_back({{}, std::nullopt, "dra.example.com/numa"});
  EXPECT_EQ(Only(w.Run({claim}, Strategy::kKubernetes)),
            (std::vector<std::string>{"r=p/a0", "r=p/a2"}));
}

TEST(Constraints, ViolationInAllModeIsAnError) {
  World w;
  w.slices.push_back(
      Slice("s", "p", {Dev("a0", {{"numa", Int(0)}}), Dev("a1", {{"numa", Int(1)}})}));
  auto claim = Claim("c", {AllOf("r", "any")});
  claim.spec.devices.constraints.push_back({{}, "dra.example.com/numa", std::nullopt});
  auto r = w.Run({claim}, Strategy::kKubernetes);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("constraint would not be satisfied"));
}

TEST(Constraints, ApplyOnlyToTheirRequests) {
  World w;
  w.slices.push_back(Slice("s", "p",
                           {Dev("a0", {{"numa", Int(0)}}), Dev("a1", {{"numa", Int(1)}}),
                            Dev("a2", {{"numa", Int(1)}})}));
  auto claim = Claim("c", {Exactly("free", "any"), Exactly("pair", "any", 2)});
  claim.spec.devices.constraints.push_back({{"pair"}, "dra.example.com/numa", std::nullopt});
  EXPECT_EQ(Only(w.Run({claim}, Strategy::kKubernetes)),
            (std::vector<std::string>{"free=p/a0", "pair=p/a1", "pair=p/a2"}));
}

// List-type attributes (1.36 alpha, DRAListTypeAttributes): matchAttribute needs the devices'
// value sets to intersect, distinctAttribute needs them pairwise disjoint; a scalar is a set of
// one.
api::DeviceAttribute Ints(std::vector<int64_t> v) {
  api::DeviceAttribute a;
  a.int_values = std::move(v);
  return a;
}

TEST(ListAttributes, MatchAttributeNeedsACommonValue) {
  World w;
  w.slices.push_back(
      Slice("s", "p",
            {Dev("a0", {{"numa", Ints({0, 1})}}), Dev("a1", {{"numa", Ints({2, 3})}}),
             Dev("a2", {{"numa", Ints({1, 4})}})}));
  auto claim = Claim("c", {Exactly("r", "any", 2)});
  claim.spec.devices.constraints.push_back({{}, "dra.example.com/numa", std::nullopt});
  EXPECT_EQ(Only(w.Run({claim}, Strategy::kKubernetes)),
            (std::vector<std::string>{"r=p/a0", "r=p/a2"}));

  auto three = Claim("c", {Exactly("r", "any", 3)});
  three.spec.devices.constraints.push_back({{}, "dra.example.com/numa", std::nullopt});
  auto r = w.Run({three}, Strategy::kKubernetes);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->fits);
}

TEST(ListAttributes, ScalarMatchesAListHoldingItsValue) {
  World w;
  w.slices.push_back(Slice("s", "p",
                           {Dev("a0", {{"numa", Int(1)}}), Dev("a1", {{"numa", Ints({2, 3})}}),
                            Dev("a2", {{"numa", Ints({0, 1})}})}));
  auto claim = Claim("c", {Exactly("r", "any", 2)});
  claim.spec.devices.constraints.push_back({{}, "dra.example.com/numa", std::nullopt});
  EXPECT_EQ(Only(w.Run({claim}, Strategy::kKubernetes)),
            (std::vector<std::string>{"r=p/a0", "r=p/a2"}));
}

TEST(ListAttributes, DistinctAttributeNeedsDisjointSets) {
  World w;
  w.slices.push_back(
      Slice("s", "p",
            {Dev("a0", {{"numa", Ints({0, 1})}}), Dev("a1", {{"numa", Ints({1, 2})}}),
             Dev("a2", {{"numa", Ints({2, 3})}})}));
  auto claim = Claim("c", {Exactly("r", "any", 2)});
  claim.spec.devices.constraints.push_back({{}, std::nullopt, "dra.example.com/numa"});
  EXPECT_EQ(Only(w.Run({claim}, Strategy::kKubernetes)),
            (std::vector<std::string>{"r=p/a0", "r=p/a2"}));

  // Three devices cannot be pairwise disjoint here: every choice of three shares a value.
  auto three = Claim("c", {Exactly("r", "any", 3)});
  three.spec.devices.constraints.push_back({{}, std::nullopt, "dra.example.com/numa"});
  auto r = w.Run({three}, Strategy::kKubernetes);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->fits);
}

TEST(ListAttributes, BacktrackingRestoresTheWiderIntersection) {
  // a0 then a1 narrows the common values to {1}, which neither a2 nor a3 has; undoing a1 must
  // widen it back to {0, 1} (upstream issue 140300 kept the narrowed one), so a0, a2, a3 fit.
  World w;
  w.slices.push_back(Slice("s", "p",
                           {Dev("a0", {{"numa", Ints({0, 1})}}), Dev("a1", {{"numa", Ints({1})}}),
                            Dev("a2", {{"numa", Ints({0, 2})}}), Dev("a3", {{"numa", Int(0)}})}));
  auto claim = Claim("c", {Exactly("r", "any", 3)});
  claim.spec.devices.constraints.push_back({{}, "dra.example.com/numa", std::nullopt});
  EXPECT_EQ(Only(w.Run({claim}, Strategy::kKubernetes)),
            (std::vector<std::string>{"r=p/a0", "r=p/a2", "r=p/a3"}));
}

// ---- admin access, taints -------------------------------------------------------------------

TEST(AdminAccess, MayTakeAnAllocatedDeviceAndIsMarked) {
  World w;
  w.slices.push_back(Slice("s", "p", {Dev("d0")}));
  w.allocated.push_back(Allocated("old", "p", "d0"));
  auto req = Exactly("r", "any");
  req.exactly->admin_access = true;
  auto r = w.Run({Claim("c", {req})}, Strategy::kKubernetes);
  ASSERT_TRUE(r.ok() && r->fits);
  EXPECT_EQ(r->allocations[0].devices.results[0].admin_access, std::optional<bool>(true));
}

TEST(AdminAccess, NotTheSameDeviceTwiceInOneClaim) {
  World w;
  w.slices.push_back(Slice("s", "p", {Dev("d0")}));
  auto req = Exactly("r", "any", 2);
  req.exactly->admin_access = true;
  auto r = w.Run({Claim("c", {req})}, Strategy::kKubernetes);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->fits);
}

api::Device Tainted(std::string name, std::string effect) {
  api::Device d = Dev(std::move(name));
  d.taints.push_back({"health", "bad", std::move(effect), ""});
  return d;
}

TEST(Taints, UntoleratedTaintBlocksTheDevice) {
  World w;
  w.slices.push_back(Slice("s", "p", {Tainted("d0", "NoSchedule"), Dev("d1")}));
  EXPECT_EQ(Only(w.Run({Claim("c", {Exactly("r", "any")})}, Strategy::kKubernetes)),
            std::vector<std::string>{"r=p/d1"});
}

TEST(Taints, TolerationAllowsTheDeviceAndIsCopiedIntoTheResult) {
  World w;
  w.slices.push_back(Slice("s", "p", {Tainted("d0", "NoExecute")}));
  auto req = Exactly("r", "any");
  req.exactly->tolerations.push_back({"health", "Equal", "bad", "", std::nullopt});
  auto r = w.Run({Claim("c", {req})}, Strategy::kKubernetes);
  ASSERT_TRUE(r.ok() && r->fits);
  ASSERT_EQ(r->allocations[0].devices.results[0].tolerations.size(), 1u);
  EXPECT_EQ(r->allocations[0].devices.results[0].tolerations[0].key, "health");
}

TEST(Taints, EffectNoneIsIgnored) {
  World w;
  w.slices.push_back(Slice("s", "p", {Tainted("d0", "None")}));
  EXPECT_EQ(Only(w.Run({Claim("c", {Exactly("r", "any")})}, Strategy::kKubernetes)),
            std::vector<std::string>{"r=p/d0"});
}

TEST(Taints, AdminAccessDoesNotBypassTaints) {
  World w;
  w.slices.push_back(Slice("s", "p", {Tainted("d0", "NoSchedule")}));
  auto req = Exactly("r", "any");
  req.exactly->admin_access = true;
  auto r = w.Run({Claim("c", {req})}, Strategy::kKubernetes);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->fits);
  EXPECT_THAT(r->reason, HasSubstr("1 tainted"));
}

// ---- partitionable devices (counters) -------------------------------------------------------

api::DeviceClass MigClass(std::string name, std::string profile) {
  return Class(std::move(name), {"device.attributes['gpu.nvidia.com'].type == 'mig' && "
                                 "device.attributes['gpu.nvidia.com'].profile == '" +
                                 profile + "'"});
}

World H100World(int gpus) {
  World w;
  w.slices = synthetic::H100Node("node-a", gpus);
  w.classes = {Class("any"), MigClass("mig-1g", "1g.10gb"), MigClass("mig-3g", "3g.40gb"),
               MigClass("mig-7g", "7g.80gb"),
               Class("gpu", {"device.attributes['gpu.nvidia.com'].type == 'gpu'"})};
  return w;
}

TEST(Counters, FullGpuExcludesEveryPartition) {
  World w = H100World(1);
  w.allocated.push_back(Allocated("old", "node-a", "gpu-0", synthetic::kDriver));
  auto r = w.Run({Claim("c", {Exactly("r", "mig-1g")})}, Strategy::kKubernetes);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->fits);
  EXPECT_THAT(r->reason, HasSubstr("blocked by counters of gpu-0-counter-set"));
}

TEST(Counters, OverlappingPlacementsExcludeEachOther) {
  World w = H100World(1);
  auto r = w.Run({Claim("c", {Exactly("r", "mig-3g", 3)})}, Strategy::kKubernetes);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->fits);  // only two 3g placements, {0,4}
  EXPECT_EQ(
      Only(w.Run({Claim("c", {Exactly("r", "mig-3g", 2)})}, Strategy::kKubernetes)),
      (std::vector<std::string>{"r=node-a/gpu-0-mig-3g40gb-9-0", "r=node-a/gpu-0-mig-3g40gb-9-4"}));
}

TEST(Counters, DevicesAllocatedOnSlicesForOtherNodesCount) {
  // A pool spanning two nodes: counters in a slice for all nodes, devices on node-a and node-b.
  World w;
  api::ResourceSlice counters;
  counters.metadata.name = "c";
  counters.spec.driver = "dra.example.com";
  counters.spec.pool = {"shared", 1, 3};
  counters.spec.all_nodes = true;
  counters.spec.shared_counters.push_back({"set", {{"units", {Q(1)}}}});
  auto consuming = [](std::string name) {
    api::Device d = Dev(std::move(name));
    d.consumes_counters.push_back({"set", {{"units", {Q(1)}}}});
    return d;
  };
  auto a = Slice("a", "shared", {consuming("on-a")}, "node-a");
  auto b = Slice("b", "shared", {consuming("on-b")}, "node-b");
  a.spec.pool.resource_slice_count = b.spec.pool.resource_slice_count = 3;
  w.slices = {counters, a, b};
  w.allocated.push_back(Allocated("old", "shared", "on-b"));
  auto r = w.Run({Claim("c", {Exactly("r", "any")})}, Strategy::kKubernetes);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->fits);
}

TEST(Counters, RejectedDeviceLeaksNoCounters) {
  // d0 passes the counter check but fails the constraint; its counters must be released so d1
  // (which needs the same counter) can be taken.
  World w;
  api::ResourceSlice s = Slice("s", "p", {});
  s.spec.shared_counters.push_back({"set", {{"units", {Q(1)}}}});
  for (auto [name, numa] : {std::pair{"d0", 1}, std::pair{"d1", 0}, std::pair{"x", 0}}) {
    api::Device d = Dev(name, {{"numa", Int(numa)}, {"id", Str(name)}});
    if (std::string(name) != "x") d.consumes_counters.push_back({"set", {{"units", {Q(1)}}}});
    s.spec.devices.push_back(d);
  }
  w.slices = {s};
  w.classes.push_back(Class("only-x", {"device.attributes['dra.example.com'].id == 'x'"}));
  auto claim = Claim("c", {Exactly("first", "only-x"), Exactly("second", "any")});
  claim.spec.devices.constraints.push_back({{}, "dra.example.com/numa", std::nullopt});
  EXPECT_EQ(Only(w.Run({claim}, Strategy::kKubernetes)),
            (std::vector<std::string>{"first=p/x", "second=p/d1"}));
}

// ---- consumable capacity --------------------------------------------------------------------

api::Device SharedDevice(std::string name, int64_t memory) {
  api::Device d = Dev(std::move(name));
  d.allow_multiple_allocations = true;
  api::DeviceCapacity cap;
  cap.value = Q(memory);
  api::CapacityRequestPolicy policy;
  policy.default_value = Q(1);
  policy.valid_range = api::CapacityRequestPolicyRange{Q(1), std::nullopt, Q(2)};
  cap.request_policy = policy;
  d.capacity["memory"] = cap;
  return d;
}

api::DeviceRequest CapacityRequest(std::string name, int64_t memory) {
  auto r = Exactly(std::move(name), "any");
  r.exactly->capacity = api::CapacityRequirements{{{"memory", Q(memory)}}};
  return r;
}

TEST(ConsumableCapacity, SharedDeviceServesSeveralRequestsWithRoundingAndShareIds) {
  World w;
  w.slices.push_back(Slice("s", "p", {SharedDevice("d0", 10)}));
  auto r = w.Run({Claim("c", {CapacityRequest("a", 2), CapacityRequest("b", 4)})},
                 Strategy::kKubernetes);
  ASSERT_TRUE(r.ok() && r->fits) << (r.ok() ? r->reason : r.error().ToString());
  const auto& results = r->allocations[0].devices.results;
  ASSERT_EQ(results.size(), 2u);
  // min 1, step 2: 2 -> 3, 4 -> 5.
  EXPECT_EQ(results[0].consumed_capacity.at("memory").Value(), 3);
  EXPECT_EQ(results[1].consumed_capacity.at("memory").Value(), 5);
  ASSERT_TRUE(results[0].share_id && results[1].share_id);
  EXPECT_NE(*results[0].share_id, *results[1].share_id);
}

TEST(ConsumableCapacity, ExceedingTheCapacityDoesNotFit) {
  World w;
  w.slices.push_back(Slice("s", "p", {SharedDevice("d0", 10)}));
  auto r = w.Run({Claim("c", {CapacityRequest("a", 6), CapacityRequest("b", 4)})},
                 Strategy::kKubernetes);  // 7 + 5 > 10
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->fits);
}

TEST(ConsumableCapacity, CommittedSharesCount) {
  World w;
  w.slices.push_back(Slice("s", "p", {SharedDevice("d0", 10)}));
  auto old = Allocated("old", "p", "d0");
  old.status.allocation->devices.results[0].share_id = "x";
  old.status.allocation->devices.results[0].consumed_capacity["memory"] = Q(9);
  w.allocated.push_back(old);
  auto r = w.Run({Claim("c", {CapacityRequest("a", 2)})}, Strategy::kKubernetes);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->fits);
}

TEST(ConsumableCapacity, UndefinedCapacitySkipsTheDevice) {
  World w;
  w.slices.push_back(Slice("s", "p", {SharedDevice("d0", 10)}));
  auto req = Exactly("a", "any");
  req.exactly->capacity = api::CapacityRequirements{{{"cores", Q(1)}}};
  auto r = w.Run({Claim("c", {req})}, Strategy::kKubernetes);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->fits);
}

TEST(ConsumableCapacity, ExclusiveDeviceWithSharesLeftFromBeforeIsUnusable) {
  // A device no longer shared while an old share holds part of its memory: an exclusive request
  // consumes all of every capacity, which no longer fits (upstream's CmpRequestOverCapacity is
  // the same for exclusive devices), even when it names no capacity.
  World w;
  api::Device d0 = SharedDevice("d0", 10);
  d0.allow_multiple_allocations.reset();
  d0.capacity["memory"].request_policy.reset();
  w.slices.push_back(Slice("s", "p", {d0}));
  auto old = Allocated("old", "p", "d0");
  old.status.allocation->devices.results[0].share_id = "x";
  old.status.allocation->devices.results[0].consumed_capacity["memory"] = Q(1);
  w.allocated.push_back(old);
  auto r = w.Run({Claim("c", {Exactly("a", "any")})}, Strategy::kKubernetes);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->fits);
  w.allocated.clear();
  EXPECT_EQ(Only(w.Run({Claim("c", {Exactly("a", "any")})}, Strategy::kKubernetes)),
            std::vector<std::string>{"a=p/d0"});
}

TEST(ConsumableCapacity, AllTakesOnlyTheDevicesWithRoomForTheRequest) {
  // All is fixed before the search: a shared device whose committed shares leave too little for
  // the request is not part of it (upstream's validateDeviceRequest), not a reason to fail.
  World w;
  w.slices.push_back(Slice("s", "p", {SharedDevice("d0", 10), SharedDevice("d1", 10)}));
  auto old = Allocated("old", "p", "d0");
  old.status.allocation->devices.results[0].share_id = "x";
  old.status.allocation->devices.results[0].consumed_capacity["memory"] = Q(9);
  w.allocated.push_back(old);
  auto all = AllOf("a", "any");
  all.exactly->capacity = api::CapacityRequirements{{{"memory", Q(3)}}};
  EXPECT_EQ(Only(w.Run({Claim("c", {all})}, Strategy::kKubernetes)),
            std::vector<std::string>{"a=p/d1"});
}

// ---- node selection -------------------------------------------------------------------------

api::NodeSelector LabelSelector(std::string key, std::string op, std::vector<std::string> values) {
  api::NodeSelectorTerm term;
  term.match_expressions.push_back({std::move(key), std::move(op), std::move(values)});
  api::NodeSelector selector;
  selector.node_selector_terms.push_back(std::move(term));
  return selector;
}

TEST(NodeSelection, NodeNameSlicesAreOnlyVisibleOnTheirNode) {
  World w;
  w.slices.push_back(Slice("s", "p", {Dev("d0")}, "node-b"));
  auto r = w.Run({Claim("c", {Exactly("r", "any")})}, Strategy::kKubernetes, Node("node-a"));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->fits);
  auto r2 = w.Run({Claim("c", {Exactly("r", "any")})}, Strategy::kKubernetes, Node("node-b"));
  ASSERT_TRUE(r2.ok() && r2->fits);
  ASSERT_TRUE(r2->allocations[0].node_selector.has_value());
  const auto& term = r2->allocations[0].node_selector->node_selector_terms.at(0);
  ASSERT_EQ(term.match_fields.size(), 1u);
  EXPECT_EQ(term.match_fields[0].key, "metadata.name");
  EXPECT_EQ(term.match_fields[0].values, std::vector<std::string>{"node-b"});
}

TEST(NodeSelection, NodeSelectorSlicesMatchLabelsAndMergeIntoTheResult) {
  World w;
  auto s1 = Slice("s1", "p1", {Dev("d0")});
  s1.spec.node_name.reset();
  s1.spec.node_selector = LabelSelector("rack", "In", {"r1"});
  auto s2 = Slice("s2", "p2", {Dev("d1")});
  s2.spec.node_name.reset();
  s2.spec.node_selector = LabelSelector("zone", "Exists", {});
  auto s3 = Slice("s3", "p3", {Dev("d2")});
  s3.spec.node_name.reset();
  s3.spec.all_nodes = true;
  w.slices = {s1, s2, s3};
  auto r = w.Run({Claim("c", {Exactly("r", "any", 3)})}, Strategy::kKubernetes,
                 Node("n", {{"rack", "r1"}, {"zone", "z"}}));
  ASSERT_TRUE(r.ok() && r->fits) << (r.ok() ? r->reason : r.error().ToString());
  const auto& sel = r->allocations[0].node_selector;
  ASSERT_TRUE(sel.has_value());
  ASSERT_EQ(sel->node_selector_terms.size(), 1u);
  EXPECT_EQ(sel->node_selector_terms[0].match_expressions.size(), 2u);
  auto miss = w.Run({Claim("c", {Exactly("r", "any", 3)})}, Strategy::kKubernetes,
                    Node("n", {{"rack", "r2"}, {"zone", "z"}}));
  ASSERT_TRUE(miss.ok());
  EXPECT_FALSE(miss->fits);
}

TEST(NodeSelection, AllNodesGivesNoNodeSelector) {
  World w;
  auto s = Slice("s", "p", {Dev("d0")});
  s.spec.node_name.reset();
  s.spec.all_nodes = true;
  w.slices = {s};
  auto r = w.Run({Claim("c", {Exactly("r", "any")})}, Strategy::kKubernetes, Node("x"));
  ASSERT_TRUE(r.ok() && r->fits);
  EXPECT_FALSE(r->allocations[0].node_selector.has_value());
}

TEST(NodeSelection, PerDeviceNodeSelection) {
  World w;
  auto s = Slice("s", "p", {});
  s.spec.node_name.reset();
  s.spec.per_device_node_selection = true;
  api::Device on_b = Dev("on-b");
  on_b.node_name = "node-b";
  api::Device on_a = Dev("on-a");
  on_a.node_name = "node-a";
  s.spec.devices = {on_b, on_a};
  w.slices = {s};
  EXPECT_EQ(Only(w.Run({Claim("c", {Exactly("r", "any")})}, Strategy::kKubernetes)),
            std::vector<std::string>{"r=p/on-a"});
}

// ---- results --------------------------------------------------------------------------------

TEST(Results, ConfigFromClassThenFromClaim) {
  World w;
  w.classes[0].spec.config.push_back({api::OpaqueDeviceConfiguration{"dra.example.com", "{}"}});
  w.slices.push_back(Slice("s", "p", {Dev("d0"), Dev("d1")}));
  auto claim = Claim("c", {Exactly("a", "any"), Exactly("b", "any")});
  claim.spec.devices.config.push_back({{}, api::OpaqueDeviceConfiguration{"x", "{\"all\":1}"}});
  claim.spec.devices.config.push_back({{"b"}, api::OpaqueDeviceConfiguration{"x", "{\"b\":1}"}});
  claim.spec.devices.config.push_back({{"zzz"}, api::OpaqueDeviceConfiguration{"x", "{}"}});
  auto r = w.Run({claim}, Strategy::kKubernetes);
  ASSERT_TRUE(r.ok() && r->fits);
  const auto& config = r->allocations[0].devices.config;
  ASSERT_EQ(config.size(), 3u);
  EXPECT_EQ(config[0].source, "FromClass");
  EXPECT_EQ(config[0].requests, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(config[1].source, "FromClaim");
  EXPECT_TRUE(config[1].requests.empty());
  EXPECT_EQ(config[2].requests, std::vector<std::string>{"b"});
}

TEST(Errors, CelRuntimeErrorNamesTheClassAndSelector) {
  World w;
  w.classes.push_back(Class("broken", {"device.attributes['dra.example.com'].missing == 'x'"}));
  w.slices.push_back(Slice("s", "p", {Dev("d0")}));
  auto r = w.Run({Claim("c", {Exactly("r", "broken")})}, Strategy::kKubernetes);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("class broken: selector #0: CEL runtime error"));
}

TEST(Search, StepBudgetExhaustionIsAnError) {
  World w;
  w.slices.push_back(Slice("s", "p", {Dev("d0"), Dev("d1")}));
  auto claim = Claim("c", {Exactly("a", "any", 2)});
  Options o;
  o.strategy = Strategy::kKubernetes;
  o.step_budget = 1;
  const api::ResourceClaim* ptr = &claim;
  auto r = Allocate(w.Input(), Node("node-a"), std::span(&ptr, 1), o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("step budget of 1 devices exhausted"));
}

TEST(Search, MatchAttributeAcrossRequestsIsPrecheckedOnTheUnionOfDevices) {
  // a and b together need 20 devices with one numa value; each value has only 15, although each
  // request alone could find 10. The precheck answers without searching.
  World w;
  std::vector<api::Device> devs;
  for (int i = 0; i < 30; ++i) devs.push_back(Dev("d" + std::to_string(i), {{"numa", Int(i % 2)}}));
  w.slices.push_back(Slice("s", "p", devs));
  auto claim = Claim("c", {Exactly("a", "any", 10), Exactly("b", "any", 10)});
  claim.spec.devices.constraints.push_back({{}, "dra.example.com/numa", std::nullopt});
  auto r = w.Run({claim}, Strategy::kKubernetes);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->fits);
  EXPECT_THAT(r->reason, HasSubstr("no value is shared by enough free devices"));
}

TEST(Search, RequestsThatTogetherNeedMoreDevicesThanMatchFailBeforeSearching) {
  // 16 + 16 of 31 devices: each request alone fits; the search would try C(31,16) placements.
  World w;
  std::vector<api::Device> devs;
  for (int i = 0; i < 31; ++i) devs.push_back(Dev("d" + std::to_string(i)));
  w.slices.push_back(Slice("s", "p", devs));
  auto claim = Claim("c", {Exactly("a", "any", 16), Exactly("b", "any", 16)});
  Options o;
  o.strategy = Strategy::kKubernetes;
  o.step_budget = 100;
  const api::ResourceClaim* ptr = &claim;
  auto r = Allocate(w.Input(), Node("node-a"), std::span(&ptr, 1), o);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_FALSE(r->fits);
  EXPECT_THAT(r->reason, HasSubstr("need 32 devices together, but only 31 distinct free devices"));
}

// ---- the pack strategy ----------------------------------------------------------------------

TEST(Pack, RightSizesToTheSmallestMatchingDevice) {
  World w = H100World(2);
  // Kubernetes first fit takes the whole GPU (it sorts first); pack a 1g partition.
  EXPECT_EQ(Only(w.Run({Claim("c", {Exactly("r", "any")})}, Strategy::kKubernetes)),
            std::vector<std::string>{"r=node-a/gpu-0"});
  auto packed = Only(w.Run({Claim("c", {Exactly("r", "any")})}, Strategy::kPack));
  ASSERT_EQ(packed.size(), 1u);
  EXPECT_THAT(packed[0], HasSubstr("mig-1g10gb"));
}

TEST(Pack, PlacesAPartitionWhereItBlocksTheLeast) {
  // On an empty H100, a 1g at slot 6 leaves 4g@0 and 3g@... possible; slot 0 would block 4g/7g.
  World w = H100World(1);
  EXPECT_EQ(Only(w.Run({Claim("c", {Exactly("r", "mig-1g")})}, Strategy::kPack)),
            std::vector<std::string>{"r=node-a/gpu-0-mig-1g10gb-19-6"});
  EXPECT_EQ(Only(w.Run({Claim("c", {Exactly("r", "mig-1g")})}, Strategy::kKubernetes)),
            std::vector<std::string>{"r=node-a/gpu-0-mig-1g10gb-19-0"});
}

TEST(Pack, PrefersTheFullestGpu) {
  World w = H100World(2);
  w.allocated.push_back(Allocated("old", "node-a", "gpu-1-mig-1g10gb-19-6", synthetic::kDriver));
  EXPECT_EQ(Only(w.Run({Claim("c", {Exactly("r", "mig-1g")})}, Strategy::kPack)),
            std::vector<std::string>{"r=node-a/gpu-1-mig-1g10gb-19-4"});
}

TEST(Pack, StaysCompleteWhenTheRightSizedChoiceWouldBlockALaterRequest) {
  World w = H100World(1);
  // 1g + 7g-or-... : a 1g anywhere blocks the 7g, so "big" (7g) cannot fit with any 1g; but 3g +
  // 4g style mixes must still be found. Ask for one 3g and one 4g: 4g only at 0, so 3g must be
  // at 4.
  w.classes.push_back(MigClass("mig-4g", "4g.40gb"));
  auto claim = Claim("c", {Exactly("small", "mig-3g"), Exactly("big", "mig-4g")});
  auto r = w.Run({claim}, Strategy::kPack);
  EXPECT_EQ(Only(r), (std::vector<std::string>{"small=node-a/gpu-0-mig-3g40gb-9-4",
                                               "big=node-a/gpu-0-mig-4g40gb-5-0"}));
}

// ---- incremental use ------------------------------------------------------------------------

TEST(Incremental, CommitAndReleaseChangeWhatFits) {
  World w = H100World(1);
  auto created = Allocator::Create(
      w.Input(), Options{Strategy::kPack, PackPlacement::kLeastBlocking, 100000, true, 1});
  ASSERT_TRUE(created.ok());
  Allocator& a = **created;
  auto claim = Claim("c", {Exactly("r", "mig-7g")});
  const api::ResourceClaim* ptr = &claim;
  api::Node node = Node("node-a");
  auto first = a.Allocate(node, std::span(&ptr, 1));
  ASSERT_TRUE(first.ok() && first->fits);
  ASSERT_TRUE(a.Commit("c", first->allocations[0]).ok());
  EXPECT_FALSE(a.Commit("c", first->allocations[0]).ok());
  auto second = a.Allocate(node, std::span(&ptr, 1));
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->fits);
  ASSERT_TRUE(a.Release("c").ok());
  EXPECT_FALSE(a.Release("c").ok());
  auto third = a.Allocate(node, std::span(&ptr, 1));
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE(third->fits);
}

TEST(ChooseNode, KubernetesTakesTheFirstThatFitsInNameOrderPackTheOneItBlocksLeastOn) {
  // node-b already has a partition: a 1g there blocks less than on node-a's untouched GPU.
  World w;
  w.slices = synthetic::H100Node("node-b", 1);
  for (auto& s : synthetic::H100Node("node-a", 1)) w.slices.push_back(s);
  w.classes = {Class("any")};
  api::Node a = Node("node-a");
  api::Node b = Node("node-b");
  std::vector<const api::Node*> nodes = {&b, &a};
  auto claim = Claim("c", {Exactly("r", "any")});
  const api::ResourceClaim* ptr = &claim;
  for (Strategy strategy : {Strategy::kKubernetes, Strategy::kPack}) {
    auto alloc = Allocator::Create(
        w.Input(), Options{strategy, PackPlacement::kLeastBlocking, 100000, true, 1});
    ASSERT_TRUE(alloc.ok());
    ASSERT_TRUE(
        (*alloc)
            ->Commit("old", Allocated("old", "node-b", "gpu-0-mig-1g10gb-19-6", synthetic::kDriver)
                                .status.allocation.value())
            .ok());
    auto choice = (*alloc)->ChooseNode(nodes, std::span(&ptr, 1));
    ASSERT_TRUE(choice.ok() && choice->fits);
    EXPECT_EQ(nodes[choice->node_index]->metadata.name,
              strategy == Strategy::kKubernetes ? "node-a" : "node-b");
  }
}

TEST(ChooseNode, PackRemembersScoresOnlyUntilANodeChanges) {
  // Claims of random sizes arrive and leave on 3 nodes; the choice of an allocator that has seen
  // every commit and release (and remembers per-node scores) must equal that of a fresh allocator
  // built from the allocated claims.
  World w;
  w.slices.clear();
  for (const char* n : {"node-a", "node-b", "node-c"}) {
    for (auto& s : synthetic::H100Node(n, 2)) w.slices.push_back(s);
  }
  std::vector<std::string> classes;
  w.classes = {Class("any")};
  for (const auto& p : synthetic::H100Profiles()) {
    classes.push_back(std::string("mig-") + p.name);
    w.classes.push_back(MigClass(classes.back(), p.name));
  }
  api::Node a = Node("node-a"), b = Node("node-b"), c = Node("node-c");
  std::vector<const api::Node*> nodes = {&c, &a, &b};
  Options o{Strategy::kPack, PackPlacement::kLeastBlocking, 100000, true, 1};
  auto incremental = Allocator::Create(w.Input(), o);
  ASSERT_TRUE(incremental.ok());
  std::map<std::string, api::ResourceClaim> live;
  std::mt19937 rng(7);
  int placed = 0, released = 0;
  for (int step = 0; step < 150; ++step) {
    if (!live.empty() && rng() % 3 == 0) {
      auto it = std::next(live.begin(), static_cast<long>(rng() % live.size()));
      ASSERT_TRUE((*incremental)->Release(it->first).ok());
      live.erase(it);
      ++released;
      continue;
    }
    auto claim = Claim("c" + std::to_string(step), {Exactly("r", classes[rng() % classes.size()])});
    const api::ResourceClaim* ptr = &claim;
    World fresh = w;
    for (const auto& [key, allocated] : live) fresh.allocated.push_back(allocated);
    auto baseline = Allocator::Create(fresh.Input(), o);
    ASSERT_TRUE(baseline.ok());
    auto want = (*baseline)->ChooseNode(nodes, std::span(&ptr, 1));
    auto got = (*incremental)->ChooseNode(nodes, std::span(&ptr, 1));
    ASSERT_TRUE(want.ok() && got.ok());
    ASSERT_EQ(got->fits, want->fits) << "step " << step;
    if (!got->fits) continue;
    ASSERT_EQ(got->node_index, want->node_index) << "step " << step;
    Outcome got_outcome{true, got->allocations, ""};
    Outcome want_outcome{true, want->allocations, ""};
    ASSERT_EQ(Chosen(got_outcome), Chosen(want_outcome)) << "step " << step;
    ASSERT_TRUE((*incremental)->Commit(ClaimKey(claim), got->allocations[0]).ok());
    claim.status.allocation = got->allocations[0];
    live[ClaimKey(claim)] = claim;
    ++placed;
  }
  EXPECT_GT(placed, 40);
  EXPECT_GT(released, 20);
}

TEST(BatchOrder, PackTriesTheLargestFirstKubernetesKeepsTheGivenOrder) {
  // One H100: 1g, 1g, 7g in arrival order. First fit in that order places the two 1g and the 7g
  // no longer fits; largest first places the 7g, and the 1g sets fit nowhere after it.
  World w = H100World(1);
  auto small1 = Claim("small1", {Exactly("r", "mig-1g")});
  auto small2 = Claim("small2", {Exactly("r", "mig-1g")});
  auto big = Claim("big", {Exactly("r", "mig-7g")});
  auto impossible = Claim("impossible", {Exactly("r", "mig-7g", 2)});
  std::vector<std::vector<const api::ResourceClaim*>> sets = {
      {&small1}, {&impossible}, {&small2}, {}, {&big}};
  api::Node a = Node("node-a");
  std::vector<const api::Node*> nodes = {&a};
  for (Strategy strategy : {Strategy::kKubernetes, Strategy::kPack}) {
    auto alloc = Allocator::Create(
        w.Input(), Options{strategy, PackPlacement::kLeastBlocking, 100000, true, 1});
    ASSERT_TRUE(alloc.ok());
    auto order = (*alloc)->BatchOrder(nodes, sets);
    ASSERT_TRUE(order.ok()) << order.error().ToString();
    const std::vector<size_t> want = strategy == Strategy::kKubernetes
                                         ? std::vector<size_t>{0, 1, 2, 3, 4}
                                         : std::vector<size_t>{4, 0, 2, 1, 3};
    EXPECT_EQ(*order, want) << StrategyName(strategy);
    EXPECT_EQ((*alloc)->committed_count(), 0u);
  }
}

TEST(ChooseNode, ReportsEveryNodeWhenNothingFits) {
  World w;
  w.slices = synthetic::H100Node("node-a", 1);
  auto alloc = Allocator::Create(w.Input(), {});
  ASSERT_TRUE(alloc.ok());
  api::Node a = Node("node-a");
  api::Node b = Node("node-b");
  std::vector<const api::Node*> nodes = {&a, &b};
  auto claim = Claim("c", {Exactly("r", "any", 9)});
  const api::ResourceClaim* ptr = &claim;
  auto choice = (*alloc)->ChooseNode(nodes, std::span(&ptr, 1));
  ASSERT_TRUE(choice.ok());
  EXPECT_FALSE(choice->fits);
  EXPECT_THAT(choice->reason, HasSubstr("node-a: "));
  EXPECT_THAT(choice->reason, HasSubstr("node-b: "));
}

TEST(ChooseNode, AnInvalidPoolRulesOutOnlyItsNode) {
  // Upstream's invalid-pool error wraps ErrFailedAllocationOnNode: the scheduler marks that node
  // unschedulable and goes on with the others; the error surfaces when no node fits.
  World w;
  w.slices.push_back(Slice("s1", "a", {Dev("x")}, "node-a"));
  w.slices.push_back(Slice("s2", "a", {Dev("x")}, "node-a"));
  for (auto& s : w.slices) s.spec.pool.resource_slice_count = 2;
  w.slices.push_back(Slice("s3", "b", {Dev("y")}, "node-b"));
  api::Node a = Node("node-a");
  api::Node b = Node("node-b");
  auto claim = Claim("c", {Exactly("r", "any")});
  const api::ResourceClaim* ptr = &claim;
  for (Strategy strategy : {Strategy::kKubernetes, Strategy::kPack}) {
    Options options;
    options.strategy = strategy;
    auto alloc = Allocator::Create(w.Input(), options);
    ASSERT_TRUE(alloc.ok());
    std::vector<const api::Node*> both = {&a, &b};
    auto choice = (*alloc)->ChooseNode(both, std::span(&ptr, 1));
    ASSERT_TRUE(choice.ok()) << choice.error().ToString();
    ASSERT_TRUE(choice->fits) << choice->reason;
    EXPECT_EQ(both[choice->node_index], &b);
    // Surfaced as an error when no node fits.
    std::vector<const api::Node*> only_a = {&a};
    choice = (*alloc)->ChooseNode(only_a, std::span(&ptr, 1));
    ASSERT_FALSE(choice.ok());
    EXPECT_THAT(choice.error().message,
                HasSubstr("node-a: invalid resource pools were encountered: dra.example.com/a"));
  }
}

}  // namespace
}  // namespace migdra::alloc
