// The part of NVML's C ABI migdra uses, declared here because nvml.h (CUDA) is not needed to
// build migdra. Names, layouts and values follow NVIDIA's nvml.h; tests/gpu/check_nvml_abi.cc
// compares every struct (size and field offsets), constant and function type with the real
// header on a GPU machine. Shared by the loader (nvml.cc) and nvmlsim, which exports these
// functions.
#pragma once

#include <cstddef>

extern "C" {

typedef int nvmlReturn_t;
typedef int nvmlBrandType_t;
typedef unsigned int nvmlDeviceArchitecture_t;
typedef struct nvmlDevice_st* nvmlDevice_t;
typedef struct nvmlGpuInstance_st* nvmlGpuInstance_t;
typedef struct nvmlComputeInstance_st* nvmlComputeInstance_t;

#define MIGDRA_NVML_SUCCESS 0
#define MIGDRA_NVML_ERROR_UNINITIALIZED 1
#define MIGDRA_NVML_ERROR_INVALID_ARGUMENT 2
#define MIGDRA_NVML_ERROR_NOT_SUPPORTED 3
#define MIGDRA_NVML_ERROR_NO_PERMISSION 4
#define MIGDRA_NVML_ERROR_NOT_FOUND 6
#define MIGDRA_NVML_ERROR_INSUFFICIENT_SIZE 7
#define MIGDRA_NVML_ERROR_RESET_REQUIRED 16
#define MIGDRA_NVML_ERROR_IN_USE 19
#define MIGDRA_NVML_ERROR_INSUFFICIENT_RESOURCES 23
#define MIGDRA_NVML_ERROR_UNKNOWN 999

#define MIGDRA_NVML_INIT_FLAG_NO_GPUS 1u
#define MIGDRA_NVML_DEVICE_MIG_DISABLE 0u
#define MIGDRA_NVML_DEVICE_MIG_ENABLE 1u
#define MIGDRA_NVML_DEVICE_UUID_V2_BUFFER_SIZE 96
#define MIGDRA_NVML_DEVICE_NAME_V2_BUFFER_SIZE 96
#define MIGDRA_NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE 80
#define MIGDRA_NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE 32
#define MIGDRA_NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE 16
#define MIGDRA_NVML_GPU_INSTANCE_PROFILE_COUNT 18
#define MIGDRA_NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE 0
#define MIGDRA_NVML_COMPUTE_INSTANCE_PROFILE_2_SLICE 1
#define MIGDRA_NVML_COMPUTE_INSTANCE_PROFILE_3_SLICE 2
#define MIGDRA_NVML_COMPUTE_INSTANCE_PROFILE_4_SLICE 3
#define MIGDRA_NVML_COMPUTE_INSTANCE_PROFILE_7_SLICE 4
#define MIGDRA_NVML_COMPUTE_INSTANCE_PROFILE_8_SLICE 5
#define MIGDRA_NVML_COMPUTE_INSTANCE_PROFILE_6_SLICE 6
#define MIGDRA_NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED 0

typedef struct nvmlPciInfo_st {
  char busIdLegacy[MIGDRA_NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE];
  unsigned int domain;
  unsigned int bus;
  unsigned int device;
  unsigned int pciDeviceId;
  unsigned int pciSubSystemId;
  char busId[MIGDRA_NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE];
} nvmlPciInfo_t;

typedef struct nvmlMemory_st {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
} nvmlMemory_t;

typedef struct nvmlGpuInstancePlacement_st {
  unsigned int start;
  unsigned int size;
} nvmlGpuInstancePlacement_t;

typedef struct nvmlGpuInstanceProfileInfo_st {
  unsigned int id;
  unsigned int isP2pSupported;
  unsigned int sliceCount;
  unsigned int instanceCount;
  unsigned int multiprocessorCount;
  unsigned int copyEngineCount;
  unsigned int decoderCount;
  unsigned int encoderCount;
  unsigned int jpegCount;
  unsigned int ofaCount;
  unsigned long long memorySizeMB;
} nvmlGpuInstanceProfileInfo_t;

typedef struct nvmlGpuInstanceInfo_st {
  nvmlDevice_t device;
  unsigned int id;
  unsigned int profileId;
  nvmlGpuInstancePlacement_t placement;
} nvmlGpuInstanceInfo_t;

typedef struct nvmlComputeInstancePlacement_st {
  unsigned int start;
  unsigned int size;
} nvmlComputeInstancePlacement_t;

typedef struct nvmlComputeInstanceProfileInfo_st {
  unsigned int id;
  unsigned int sliceCount;
  unsigned int instanceCount;
  unsigned int multiprocessorCount;
  unsigned int sharedCopyEngineCount;
  unsigned int sharedDecoderCount;
  unsigned int sharedEncoderCount;
  unsigned int sharedJpegCount;
  unsigned int sharedOfaCount;
} nvmlComputeInstanceProfileInfo_t;

typedef struct nvmlComputeInstanceInfo_st {
  nvmlDevice_t device;
  nvmlGpuInstance_t gpuInstance;
  unsigned int id;
  unsigned int profileId;
  nvmlComputeInstancePlacement_t placement;
} nvmlComputeInstanceInfo_t;

#include "gpu/nvml_functions.h"

#define MIGDRA_NVML_DECLARE(name, params) nvmlReturn_t name params;
MIGDRA_NVML_FUNCTIONS(MIGDRA_NVML_DECLARE)
#undef MIGDRA_NVML_DECLARE
const char* nvmlErrorString(nvmlReturn_t result);

// nvmlsim only: a one-line description of the simulated node. Real NVML lacks this symbol,
// which is how the loader tells them apart.
const char* migdraNvmlsimDescribe(void);

}  // extern "C"
