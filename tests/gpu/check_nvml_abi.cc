// Prints the layout of every NVML struct, the value of every NVML constant and (with the real
// header) whether every NVML function migdra resolves has the type migdra declares.
// tests/gpu/check_nvml_abi.sh builds it twice — against NVIDIA's nvml.h (-DMIGDRA_REAL_NVML_H)
// and against migdra's gpu/nvml_abi.h — and diffs the two outputs.
#include <cstddef>
#include <cstdio>
#include <type_traits>

#ifdef MIGDRA_REAL_NVML_H
#include <nvml.h>
#define CONSTANT(ours, real) std::printf("constant %s = %lld\n", #real, (long long)(real))
#else
#include "gpu/nvml_abi.h"
#define CONSTANT(ours, real) std::printf("constant %s = %lld\n", #real, (long long)(ours))
#endif
#include "gpu/geometry.h"
#include "gpu/nvml_functions.h"

#define LAYOUT(type) std::printf("struct %s size %zu\n", #type, sizeof(type))
#define FIELD(type, field)                                                           \
  std::printf("  %s.%s offset %zu size %zu\n", #type, #field, offsetof(type, field), \
              sizeof(((type*)nullptr)->field))

int main() {
  LAYOUT(nvmlPciInfo_t);
  FIELD(nvmlPciInfo_t, busIdLegacy);
  FIELD(nvmlPciInfo_t, domain);
  FIELD(nvmlPciInfo_t, bus);
  FIELD(nvmlPciInfo_t, device);
  FIELD(nvmlPciInfo_t, pciDeviceId);
  FIELD(nvmlPciInfo_t, pciSubSystemId);
  FIELD(nvmlPciInfo_t, busId);
  LAYOUT(nvmlMemory_t);
  FIELD(nvmlMemory_t, total);
  FIELD(nvmlMemory_t, free);
  FIELD(nvmlMemory_t, used);
  LAYOUT(nvmlGpuInstancePlacement_t);
  FIELD(nvmlGpuInstancePlacement_t, start);
  FIELD(nvmlGpuInstancePlacement_t, size);
  LAYOUT(nvmlGpuInstanceProfileInfo_t);
  FIELD(nvmlGpuInstanceProfileInfo_t, id);
  FIELD(nvmlGpuInstanceProfileInfo_t, isP2pSupported);
  FIELD(nvmlGpuInstanceProfileInfo_t, sliceCount);
  FIELD(nvmlGpuInstanceProfileInfo_t, instanceCount);
  FIELD(nvmlGpuInstanceProfileInfo_t, multiprocessorCount);
  FIELD(nvmlGpuInstanceProfileInfo_t, copyEngineCount);
  FIELD(nvmlGpuInstanceProfileInfo_t, decoderCount);
  FIELD(nvmlGpuInstanceProfileInfo_t, encoderCount);
  FIELD(nvmlGpuInstanceProfileInfo_t, jpegCount);
  FIELD(nvmlGpuInstanceProfileInfo_t, ofaCount);
  FIELD(nvmlGpuInstanceProfileInfo_t, memorySizeMB);
  LAYOUT(nvmlGpuInstanceInfo_t);
  FIELD(nvmlGpuInstanceInfo_t, device);
  FIELD(nvmlGpuInstanceInfo_t, id);
  FIELD(nvmlGpuInstanceInfo_t, profileId);
  FIELD(nvmlGpuInstanceInfo_t, placement);
  LAYOUT(nvmlComputeInstancePlacement_t);
  FIELD(nvmlComputeInstancePlacement_t, start);
  FIELD(nvmlComputeInstancePlacement_t, size);
  LAYOUT(nvmlComputeInstanceProfileInfo_t);
  FIELD(nvmlComputeInstanceProfileInfo_t, id);
  FIELD(nvmlComputeInstanceProfileInfo_t, sliceCount);
  FIELD(nvmlComputeInstanceProfileInfo_t, instanceCount);
  FIELD(nvmlComputeInstanceProfileInfo_t, multiprocessorCount);
  FIELD(nvmlComputeInstanceProfileInfo_t, sharedCopyEngineCount);
  FIELD(nvmlComputeInstanceProfileInfo_t, sharedDecoderCount);
  FIELD(nvmlComputeInstanceProfileInfo_t, sharedEncoderCount);
  FIELD(nvmlComputeInstanceProfileInfo_t, sharedJpegCount);
  FIELD(nvmlComputeInstanceProfileInfo_t, sharedOfaCount);
  LAYOUT(nvmlComputeInstanceInfo_t);
  FIELD(nvmlComputeInstanceInfo_t, device);
  FIELD(nvmlComputeInstanceInfo_t, gpuInstance);
  FIELD(nvmlComputeInstanceInfo_t, id);
  FIELD(nvmlComputeInstanceInfo_t, profileId);
  FIELD(nvmlComputeInstanceInfo_t, placement);
  std::printf("type nvmlReturn_t size %zu\n", sizeof(nvmlReturn_t));
  std::printf("type nvmlBrandType_t size %zu\n", sizeof(nvmlBrandType_t));
  std::printf("type nvmlDeviceArchitecture_t size %zu\n", sizeof(nvmlDeviceArchitecture_t));

  CONSTANT(MIGDRA_NVML_SUCCESS, NVML_SUCCESS);
  CONSTANT(MIGDRA_NVML_ERROR_UNINITIALIZED, NVML_ERROR_UNINITIALIZED);
  CONSTANT(MIGDRA_NVML_ERROR_INVALID_ARGUMENT, NVML_ERROR_INVALID_ARGUMENT);
  CONSTANT(MIGDRA_NVML_ERROR_NOT_SUPPORTED, NVML_ERROR_NOT_SUPPORTED);
  CONSTANT(MIGDRA_NVML_ERROR_NO_PERMISSION, NVML_ERROR_NO_PERMISSION);
  CONSTANT(MIGDRA_NVML_ERROR_NOT_FOUND, NVML_ERROR_NOT_FOUND);
  CONSTANT(MIGDRA_NVML_ERROR_INSUFFICIENT_SIZE, NVML_ERROR_INSUFFICIENT_SIZE);
  CONSTANT(MIGDRA_NVML_ERROR_RESET_REQUIRED, NVML_ERROR_RESET_REQUIRED);
  CONSTANT(MIGDRA_NVML_ERROR_IN_USE, NVML_ERROR_IN_USE);
  CONSTANT(MIGDRA_NVML_ERROR_INSUFFICIENT_RESOURCES, NVML_ERROR_INSUFFICIENT_RESOURCES);
  CONSTANT(MIGDRA_NVML_ERROR_UNKNOWN, NVML_ERROR_UNKNOWN);
  CONSTANT(MIGDRA_NVML_INIT_FLAG_NO_GPUS, NVML_INIT_FLAG_NO_GPUS);
  CONSTANT(MIGDRA_NVML_DEVICE_MIG_DISABLE, NVML_DEVICE_MIG_DISABLE);
  CONSTANT(MIGDRA_NVML_DEVICE_MIG_ENABLE, NVML_DEVICE_MIG_ENABLE);
  CONSTANT(MIGDRA_NVML_DEVICE_UUID_V2_BUFFER_SIZE, NVML_DEVICE_UUID_V2_BUFFER_SIZE);
  CONSTANT(MIGDRA_NVML_DEVICE_NAME_V2_BUFFER_SIZE, NVML_DEVICE_NAME_V2_BUFFER_SIZE);
  CONSTANT(MIGDRA_NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE, NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE);
  CONSTANT(MIGDRA_NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE, NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE);
  CONSTANT(MIGDRA_NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE, NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE);
  CONSTANT(MIGDRA_NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE, NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE);
  CONSTANT(MIGDRA_NVML_COMPUTE_INSTANCE_PROFILE_2_SLICE, NVML_COMPUTE_INSTANCE_PROFILE_2_SLICE);
  CONSTANT(MIGDRA_NVML_COMPUTE_INSTANCE_PROFILE_3_SLICE, NVML_COMPUTE_INSTANCE_PROFILE_3_SLICE);
  CONSTANT(MIGDRA_NVML_COMPUTE_INSTANCE_PROFILE_4_SLICE, NVML_COMPUTE_INSTANCE_PROFILE_4_SLICE);
  CONSTANT(MIGDRA_NVML_COMPUTE_INSTANCE_PROFILE_7_SLICE, NVML_COMPUTE_INSTANCE_PROFILE_7_SLICE);
  CONSTANT(MIGDRA_NVML_COMPUTE_INSTANCE_PROFILE_8_SLICE, NVML_COMPUTE_INSTANCE_PROFILE_8_SLICE);
  CONSTANT(MIGDRA_NVML_COMPUTE_INSTANCE_PROFILE_6_SLICE, NVML_COMPUTE_INSTANCE_PROFILE_6_SLICE);
  CONSTANT(MIGDRA_NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED,
           NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED);
  using namespace migdra::gpu;
  CONSTANT(kProfile1Slice, NVML_GPU_INSTANCE_PROFILE_1_SLICE);
  CONSTANT(kProfile2Slice, NVML_GPU_INSTANCE_PROFILE_2_SLICE);
  CONSTANT(kProfile3Slice, NVML_GPU_INSTANCE_PROFILE_3_SLICE);
  CONSTANT(kProfile4Slice, NVML_GPU_INSTANCE_PROFILE_4_SLICE);
  CONSTANT(kProfile7Slice, NVML_GPU_INSTANCE_PROFILE_7_SLICE);
  CONSTANT(kProfile8Slice, NVML_GPU_INSTANCE_PROFILE_8_SLICE);
  CONSTANT(kProfile6Slice, NVML_GPU_INSTANCE_PROFILE_6_SLICE);
  CONSTANT(kProfile1SliceRev1, NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV1);
  CONSTANT(kProfile2SliceRev1, NVML_GPU_INSTANCE_PROFILE_2_SLICE_REV1);
  CONSTANT(kProfile1SliceRev2, NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV2);
  CONSTANT(kProfile1SliceGfx, NVML_GPU_INSTANCE_PROFILE_1_SLICE_GFX);
  CONSTANT(kProfile2SliceGfx, NVML_GPU_INSTANCE_PROFILE_2_SLICE_GFX);
  CONSTANT(kProfile4SliceGfx, NVML_GPU_INSTANCE_PROFILE_4_SLICE_GFX);
  CONSTANT(kProfile1SliceNoMe, NVML_GPU_INSTANCE_PROFILE_1_SLICE_NO_ME);
  CONSTANT(kProfile2SliceNoMe, NVML_GPU_INSTANCE_PROFILE_2_SLICE_NO_ME);
  CONSTANT(kProfile1SliceAllMe, NVML_GPU_INSTANCE_PROFILE_1_SLICE_ALL_ME);
  CONSTANT(kProfile2SliceAllMe, NVML_GPU_INSTANCE_PROFILE_2_SLICE_ALL_ME);
  CONSTANT(NvmlArchitectureValue(Architecture::kAmpere), NVML_DEVICE_ARCH_AMPERE);
  CONSTANT(NvmlArchitectureValue(Architecture::kHopper), NVML_DEVICE_ARCH_HOPPER);
  CONSTANT(NvmlArchitectureValue(Architecture::kBlackwell), NVML_DEVICE_ARCH_BLACKWELL);
  CONSTANT(14, NVML_BRAND_NVIDIA);
  CONSTANT(13, NVML_BRAND_NVIDIA_RTX);

#ifdef MIGDRA_REAL_NVML_H
#define SAME_TYPE(name, params)                                                          \
  std::printf("function %s %s\n", #name,                                                 \
              std::is_same_v<decltype(&name), nvmlReturn_t(*) params> ? "matches nvml.h" \
                                                                      : "DIFFERS from nvml.h");
#else
#define SAME_TYPE(name, params) std::printf("function %s matches nvml.h\n", #name);
#endif
  MIGDRA_NVML_FUNCTIONS(SAME_TYPE)
  return 0;
}
