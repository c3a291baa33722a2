// The DRA allocator: finds devices for ResourceClaims in ResourceSlices, with the semantics of the
// Kubernetes scheduler's structured-parameters allocator (reference/k8s-dra-semantics.md §2, with
// the fixed semantics of §7) and a choice of placement strategy.
//
// What is promised
// - Feasibility is the same under every strategy: a set of claims fits a node under `kPack` if and
//   only if it fits under `kKubernetes` (both run a complete depth-first search over the same
//   candidates; only the order in which candidates are tried differs), unless the step budget is
//   exhausted, which is an error, never a silent "does not fit".
// - `kKubernetes` reproduces the upstream allocator's choices: pools sorted by (driver, pool),
//   pools with binding-condition devices last, slices by name, devices in slice order, first fit,
//   devices of one request enumerated as combinations.
// - `kPack` (the default) chooses among the feasible placements: the smallest matching device first
//   (right-sizing), then the one that blocks the least of what is still placeable on the same
//   counter set (GPU), then the fullest counter set, then upstream order. Among nodes it takes the
//   one whose allocation is smallest, then blocks the least, then the fullest, then by name.
// - Outcomes: `Outcome::fits` with one AllocationResult per claim (in claim order), or
//   `!fits` with a human `reason` naming what was missing. Errors (CEL runtime error naming class
//   and selector, unknown class, All on an incomplete pool, more than 32 results, step budget
//   exceeded, invalid input) are Result errors.
// - Constraints: matchAttribute needs the constrained devices' values of the attribute to share
//   one value, distinctAttribute needs them pairwise different; a list-type attribute (bools,
//   ints, strings, versions) is the set of its items, a scalar a set of one, so match means a
//   non-empty intersection and distinct pairwise disjoint sets (Kubernetes 1.36
//   DRAListTypeAttributes).
// - Pools: each node sees, per pool, the newest generation among the slices relevant to it (its
//   own, counter sets always), as upstream's GatherPools: used when those slices are as many as
//   resourceSliceCount, even if a newer generation sits on other nodes; otherwise left out if a
//   newer generation exists, else complete only when all slices of the generation are there.
//   Incomplete pools are skipped, and make All an error. A pool is invalid for a node where a
//   device name repeats among its slices gathered for that node (slices of other nodes are not
//   compared, as upstream's buildPool), and everywhere where a counter set is defined twice or a
//   device consumes an undefined counter: its devices are skipped, it makes All an error, and it
//   makes an Allocate that finds nothing an error instead of `!fits`. A device allocated by name is
//   in use in every generation of its pool.
// - Consumable capacity (allowMultipleAllocations): a request consumes of every capacity of a
//   device what it asks for, else the policy's default, else all of it, rounded up by the policy
//   (a range's step in whole units, as upstream's Quantity.Value(); results show the quantity as
//   upstream's calculateConsumedCapacity makes it, e.g. a stepped amount in BinarySI: "3Gi");
//   capacity names match exactly (a request for dra.example.com/memory skips a device whose
//   capacity is named memory, as upstream; CEL's device.capacity resolves domains, this does not);
//   it must fit beside the committed and the searched shares, on exclusive devices too (old shares
//   block them). `allocationMode: All` is every selectable device where the request fits beside
//   the committed shares, fixed before the search, as upstream.
// - Results' devices.config, as upstream: each class's config once, naming the requests (or
//   selected subrequests) that use the class; then each claim config with its requests as written,
//   once if it names none, else once per request of the claim it names by name or by the selected
//   subrequest (a config naming two allocated requests appears twice; one naming only subrequests
//   that were not selected is left out).
// - Nothing is half-applied: a failed or rejected Allocate leaves the committed state unchanged.
//
// Ownership: Create copies the slices and classes it is given; callers need not keep them alive.
// Thread safety: an Allocator is not thread-safe (Allocate fills caches); use one per thread or
// serialise calls.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "api/core.h"
#include "api/resource.h"
#include "common/result.h"

namespace migdra::alloc {

enum class Strategy {
  kKubernetes,  // upstream first fit
  kPack,        // right-size, anti-fragmentation, bin-pack
};

// "kubernetes" / "pack".
std::string_view StrategyName(Strategy strategy);
Result<Strategy> ParseStrategy(std::string_view name);

// How `kPack` orders devices of one size (after right-sizing). The benchmarks measure each rule
// against first fit (bench/alloc_bench.cc); kLeastBlocking is the one that was never worse.
enum class PackPlacement {
  // The placement that blocks the least of what is still placeable on its GPU, then the fullest
  // GPU, then upstream order; nodes likewise.
  kLeastBlocking,
  // Right-sizing only: among devices of one size, the upstream (first-fit) order; among nodes,
  // the first in name order that offers the smallest devices.
  kRightSizeOnly,
};

struct Options {
  Strategy strategy = Strategy::kPack;
  PackPlacement pack_placement = PackPlacement::kLeastBlocking;
  // Devices tried (one step each) per Allocate call before it gives up with an error.
  int64_t step_budget = 2'000'000;
  // The cheap infeasibility checks before the search (too few free matching devices, Hall's
  // condition across requests, constraints no device set can meet). Off only to measure them.
  bool prechecks = true;
  // Seed for the shareIDs of allowMultipleAllocations results; 0 draws one from the OS.
  uint64_t share_id_seed = 0;
};

// The state the allocator sees. Claims in `allocated_claims` must carry `status.allocation`; their
// results count as in use (admin-access results excepted, as upstream).
struct AllocatorInput {
  std::vector<const api::ResourceSlice*> slices;
  std::vector<const api::DeviceClass*> classes;
  std::vector<const api::ResourceClaim*> allocated_claims;
};

struct Outcome {
  bool fits = false;
  // When `fits`: one allocation per claim, in the order the claims were given.
  std::vector<api::AllocationResult> allocations;
  // When `!fits`: why, e.g. "claim default/c request gpu: 0 of 3 matching devices free
  // (1 in use, 2 blocked by counters of gpu-0-counter-set)".
  std::string reason;
};

struct NodeChoice {
  bool fits = false;
  // Index into the candidate list of the chosen node; -1 when nothing fits.
  int node_index = -1;
  std::vector<api::AllocationResult> allocations;
  // When `!fits`: one line per candidate node, "<node>: <reason>".
  std::string reason;
};

// Holds the cluster state: slices indexed once, compiled selectors and selector results cached,
// allocated devices, consumed counters and shared capacity tracked. Commit/Release keep the state
// up to date between calls, so claims can be allocated one after another cheaply.
class Allocator {
 public:
  // Indexes `input`. Errors: an allocated claim whose results cannot be parsed (quantities).
  static Result<std::unique_ptr<Allocator>> Create(const AllocatorInput& input,
                                                   Options options = {});
  ~Allocator();
  Allocator(const Allocator&) = delete;
  Allocator& operator=(const Allocator&) = delete;

  // Allocates all `claims` together (all or nothing) for `node`, whose labels and name decide which
  // slices and devices are visible. Does not change the committed state.
  Result<Outcome> Allocate(const api::Node& node,
                           std::span<const api::ResourceClaim* const> claims);

  // Tries `candidates` and returns the chosen one: under kKubernetes the first that fits in name
  // order, under kPack the best that fits (see kPack above). An error on any node aborts the
  // choice, except invalid pools: they rule out only their node, and are an error only when no
  // candidate fits (upstream's ErrFailedAllocationOnNode, surfaced when allocation fails on all
  // nodes). Results are remembered per node between calls until that node's devices change, so
  // allocating claims one after another re-runs the search only where something changed.
  Result<NodeChoice> ChooseNode(std::span<const api::Node* const> candidates,
                                std::span<const api::ResourceClaim* const> claims);

  // The order in which to place independent claim sets (e.g. the claims of pending pods) one after
  // another. Under kKubernetes the given order. Under kPack the largest first, by the devices
  // each set would take on its own now (right-sized), sets that fit nowhere last, ties in the
  // given order: small sets then fill around large ones instead of crowding them out (first fit
  // decreasing). Changes no committed state; errors as ChooseNode, except that a set that fits
  // nowhere because of invalid pools is ordered last, not an error.
  Result<std::vector<size_t>> BatchOrder(
      std::span<const api::Node* const> candidates,
      std::span<const std::vector<const api::ResourceClaim*>> claim_sets);

  // Records `allocation` as belonging to the claim identified by `key` (any stable string, e.g.
  // namespace/name or uid). Devices unknown to the index are ignored. Committing a key twice is an
  // error.
  Status Commit(const std::string& key, const api::AllocationResult& allocation);
  // Forgets the allocation committed under `key`; an unknown key is an error.
  Status Release(const std::string& key);

  // Number of committed claims.
  size_t committed_count() const;
  const Options& options() const;

 private:
  struct State;
  explicit Allocator(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// A key for a claim: "namespace/name".
std::string ClaimKey(const api::ResourceClaim& claim);

// One-shot convenience: index `input` and allocate `claims` for `node`.
Result<Outcome> Allocate(const AllocatorInput& input, const api::Node& node,
                         std::span<const api::ResourceClaim* const> claims, Options options = {});

}  // namespace migdra::alloc
