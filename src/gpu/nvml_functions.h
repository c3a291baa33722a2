// The NVML entry points migdra uses, as an X-macro list X(name, (parameters)), spelled with
// nvml.h's own type names so that the list can be checked against the real header
// (tests/gpu/check_nvml_abi.cc) as well as expanded over migdra's declarations (nvml_abi.h).
// No includes and no types: the includer provides them.
#pragma once

#define MIGDRA_NVML_FUNCTIONS(X)                                                                  \
  X(nvmlInitWithFlags, (unsigned int flags))                                                      \
  X(nvmlShutdown, (void))                                                                         \
  X(nvmlSystemGetDriverVersion, (char* version, unsigned int length))                             \
  X(nvmlSystemGetCudaDriverVersion_v2, (int* cudaDriverVersion))                                  \
  X(nvmlDeviceGetCount_v2, (unsigned int* deviceCount))                                           \
  X(nvmlDeviceGetHandleByIndex_v2, (unsigned int index, nvmlDevice_t* device))                    \
  X(nvmlDeviceGetUUID, (nvmlDevice_t device, char* uuid, unsigned int length))                    \
  X(nvmlDeviceGetName, (nvmlDevice_t device, char* name, unsigned int length))                    \
  X(nvmlDeviceGetMinorNumber, (nvmlDevice_t device, unsigned int* minorNumber))                   \
  X(nvmlDeviceGetPciInfo_v3, (nvmlDevice_t device, nvmlPciInfo_t * pci))                          \
  X(nvmlDeviceGetMemoryInfo, (nvmlDevice_t device, nvmlMemory_t * memory))                        \
  X(nvmlDeviceGetArchitecture, (nvmlDevice_t device, nvmlDeviceArchitecture_t * arch))            \
  X(nvmlDeviceGetBrand, (nvmlDevice_t device, nvmlBrandType_t * type))                            \
  X(nvmlDeviceGetCudaComputeCapability, (nvmlDevice_t device, int* major, int* minor))            \
  X(nvmlDeviceGetMigMode,                                                                         \
    (nvmlDevice_t device, unsigned int* currentMode, unsigned int* pendingMode))                  \
  X(nvmlDeviceSetMigMode,                                                                         \
    (nvmlDevice_t device, unsigned int mode, nvmlReturn_t* activationStatus))                     \
  X(nvmlDeviceGetGpuInstanceProfileInfo,                                                          \
    (nvmlDevice_t device, unsigned int profile, nvmlGpuInstanceProfileInfo_t* info))              \
  X(nvmlDeviceGetGpuInstancePossiblePlacements_v2,                                                \
    (nvmlDevice_t device, unsigned int profileId, nvmlGpuInstancePlacement_t* placements,         \
     unsigned int* count))                                                                        \
  X(nvmlDeviceGetGpuInstances, (nvmlDevice_t device, unsigned int profileId,                      \
                                nvmlGpuInstance_t* gpuInstances, unsigned int* count))            \
  X(nvmlDeviceGetGpuInstanceById,                                                                 \
    (nvmlDevice_t device, unsigned int id, nvmlGpuInstance_t* gpuInstance))                       \
  X(nvmlDeviceCreateGpuInstanceWithPlacement,                                                     \
    (nvmlDevice_t device, unsigned int profileId, const nvmlGpuInstancePlacement_t* placement,    \
     nvmlGpuInstance_t* gpuInstance))                                                             \
  X(nvmlGpuInstanceDestroy, (nvmlGpuInstance_t gpuInstance))                                      \
  X(nvmlGpuInstanceGetInfo, (nvmlGpuInstance_t gpuInstance, nvmlGpuInstanceInfo_t * info))        \
  X(nvmlGpuInstanceGetComputeInstanceProfileInfo,                                                 \
    (nvmlGpuInstance_t gpuInstance, unsigned int profile, unsigned int engProfile,                \
     nvmlComputeInstanceProfileInfo_t* info))                                                     \
  X(nvmlGpuInstanceCreateComputeInstance, (nvmlGpuInstance_t gpuInstance, unsigned int profileId, \
                                           nvmlComputeInstance_t* computeInstance))               \
  X(nvmlGpuInstanceGetComputeInstances,                                                           \
    (nvmlGpuInstance_t gpuInstance, unsigned int profileId,                                       \
     nvmlComputeInstance_t* computeInstances, unsigned int* count))                               \
  X(nvmlGpuInstanceGetComputeInstanceById,                                                        \
    (nvmlGpuInstance_t gpuInstance, unsigned int id, nvmlComputeInstance_t* computeInstance))     \
  X(nvmlComputeInstanceDestroy, (nvmlComputeInstance_t computeInstance))                          \
  X(nvmlComputeInstanceGetInfo_v2,                                                                \
    (nvmlComputeInstance_t computeInstance, nvmlComputeInstanceInfo_t * info))
