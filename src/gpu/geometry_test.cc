#include "gpu/geometry.h"

#include <algorithm>
#include <set>

#include <gtest/gtest.h>

namespace migdra::gpu {
namespace {

const GpuModel& Model(std::string_view name) {
  auto model = FindModel(name);
  EXPECT_TRUE(model.ok()) << (model.ok() ? "" : model.error().message);
  return **model;
}

// The model's geometry restricted to profiles whose name has no suffix after "gb" (the base
// profiles), optionally keeping "+me".
Geometry BaseProfiles(const GpuModel& model, bool keep_me) {
  Geometry g = model.geometry;
  g.profiles.erase(std::remove_if(g.profiles.begin(), g.profiles.end(),
                                  [&](const Profile& p) {
                                    std::string suffix = p.name.substr(p.name.find("gb") + 2);
                                    return !(suffix.empty() || (keep_me && suffix == "+me"));
                                  }),
                   g.profiles.end());
  return g;
}

TEST(CatalogTest, CoversTheModelsOfTheIssue) {
  std::set<std::string> keys;
  for (const GpuModel& m : Catalog()) keys.insert(m.key);
  for (const char* key : {"a30", "a100-40gb", "a100-80gb", "h100-80gb", "h100-pcie", "h100-nvl",
                          "h200", "gh200", "gh200-144gb", "b200", "gb200", "rtx-pro-6000"}) {
    EXPECT_TRUE(keys.count(key)) << key;
  }
}

TEST(CatalogTest, FindsModelsByAliasCaseInsensitively) {
  EXPECT_EQ(Model("H100-SXM").key, "h100-80gb");
  EXPECT_EQ(Model("a100-sxm4-80gb").key, "a100-80gb");
  EXPECT_EQ(Model("H200").product_name, "NVIDIA H200");
  auto missing = FindModel("v100");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("a100-80gb"), std::string::npos);
}

TEST(CatalogTest, ProfileNamesFollowGoNvlibFormula) {
  for (const GpuModel& m : Catalog()) {
    for (const Profile& p : m.geometry.profiles) {
      EXPECT_EQ(MigProfileName(p.compute_slices, p.nvml_index, p.memory_mib, m.memory_bytes),
                p.name)
          << m.key;
    }
  }
}

TEST(CatalogTest, PlacementsLieOnTheGridAndFitTheMemorySlices) {
  for (const GpuModel& m : Catalog()) {
    const Geometry& g = m.geometry;
    EXPECT_TRUE(g.grid_units == 4 || g.grid_units == 8 || g.grid_units == 12) << m.key;
    for (const Profile& p : g.profiles) {
      ASSERT_FALSE(p.placements.empty()) << m.key << " " << p.name;
      for (const Placement& pl : p.placements) {
        EXPECT_LE(pl.end(), g.grid_units) << m.key << " " << p.name;
        EXPECT_EQ(pl.size * g.memory_slices, p.memory_slices * g.grid_units)
            << m.key << " " << p.name;
      }
      EXPECT_LE(p.compute_slices, g.compute_slices);
    }
  }
}

TEST(GeometryTest, RejectsOverlapCapsAndSharedMediaEngines) {
  const Geometry& g = Model("h100-80gb").geometry;  // 19=1g.10gb 20=+me 14=2g 9=3g 0=7g
  EXPECT_TRUE(CheckAddInstance(g, {}, {19, 0}).ok());
  Status overlap = CheckAddInstance(g, {{14, 0}}, {19, 1});
  ASSERT_FALSE(overlap.ok());
  EXPECT_NE(overlap.error().message.find("overlaps 2g.20gb"), std::string::npos);
  EXPECT_FALSE(CheckAddInstance(g, {}, {19, 7}).ok());  // no 1g at slot 7
  Status me = CheckAddInstance(g, {{20, 0}}, {20, 3});
  ASSERT_FALSE(me.ok());
  EXPECT_NE(me.error().message.find("instance cap 1"), std::string::npos);
  EXPECT_FALSE(CheckAddInstance(g, {{0, 0}}, {19, 0}).ok());
  EXPECT_TRUE(IsValidLayout(g, {{9, 0}, {14, 4}, {19, 6}}));
  EXPECT_FALSE(IsValidLayout(g, {{9, 0}, {9, 4}, {19, 0}}));
}

TEST(GeometryTest, RtxPro6000MediaVariantsShareTheEngines) {
  const Geometry& g = Model("rtx-pro-6000").geometry;  // 65=1g+me.all 14=1g 67=1g-me
  EXPECT_FALSE(CheckAddInstance(g, {{65, 0}}, {14, 3}).ok());
  EXPECT_TRUE(CheckAddInstance(g, {{65, 0}}, {67, 3}).ok());
}

TEST(GeometryTest, MaximalGeometriesMatchTheReferenceCounts) {
  // reference/mig-geometry-and-prior-art.md §A.4 (exhaustive enumeration).
  EXPECT_EQ(ValidLayouts(BaseProfiles(Model("h100-80gb"), false)).size(), 723u);
  EXPECT_EQ(ValidLayouts(BaseProfiles(Model("h100-80gb"), true)).size(), 2319u);
  EXPECT_EQ(ValidLayouts(BaseProfiles(Model("a30"), false)).size(), 26u);
  EXPECT_EQ(CountMaximalProfileMultisets(BaseProfiles(Model("h100-80gb"), false)), 28u);
  EXPECT_EQ(CountMaximalProfileMultisets(BaseProfiles(Model("h100-80gb"), true)), 44u);
  EXPECT_EQ(CountMaximalProfileMultisets(BaseProfiles(Model("a30"), false)), 4u);
  EXPECT_EQ(CountMaximalProfileMultisets(BaseProfiles(Model("rtx-pro-6000"), false)), 4u);
}

TEST(GeometryTest, MaximalLayoutsAreValidAndMaximal) {
  for (const GpuModel& m : Catalog()) {
    const Geometry& g = m.geometry;
    auto layouts = MaximalLayouts(g);
    ASSERT_FALSE(layouts.empty()) << m.key;
    for (const auto& layout : layouts) {
      ASSERT_TRUE(IsValidLayout(g, layout)) << m.key;
      for (const Profile& p : g.profiles) {
        for (const Placement& pl : p.placements) {
          Instance c{p.id, pl.start};
          if (std::find(layout.begin(), layout.end(), c) != layout.end()) continue;
          EXPECT_FALSE(CheckAddInstance(g, layout, c).ok()) << m.key << " " << p.name;
        }
      }
    }
  }
}

TEST(GeometryTest, NameFormulaMatchesTheRealH200) {
  const uint64_t h200 = 150754820096ull;  // bytes, from the real reading
  EXPECT_EQ(MigProfileName(1, kProfile1Slice, 16384, h200), "1g.18gb");
  EXPECT_EQ(MigProfileName(1, kProfile1SliceRev1, 16384, h200), "1g.18gb+me");
  EXPECT_EQ(MigProfileName(1, kProfile1SliceRev2, 33280, h200), "1g.35gb");
  EXPECT_EQ(MigProfileName(3, kProfile3Slice, 71424, h200), "3g.71gb");
  EXPECT_EQ(MigProfileName(7, kProfile7Slice, 143360, h200), "7g.141gb");
}

}  // namespace
}  // namespace migdra::gpu
