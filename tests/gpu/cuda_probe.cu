// A CUDA program for the GPU-machine test of `migdra serve` (tests/gpu/serve_on_gpu.sh): it runs
// as a pod's container and prints which GPUs CUDA lets it see, by UUID, and runs a small kernel on
// each, so the test can check that the pod saw exactly the GPU it was allocated.
#include <cstdio>
#include <cstdlib>

#include <cuda_runtime.h>

__global__ void AddOne(int* value) { *value += 1; }

int main() {
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  std::printf("CUDA_VISIBLE_DEVICES=%s\n", visible ? visible : "(unset)");
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    std::printf("cudaGetDeviceCount: %s\n", cudaGetErrorString(err));
    return 1;
  }
  std::printf("cuda devices: %d\n", count);
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    cudaGetDeviceProperties(&prop, i);
    std::printf("device %d: %s uuid GPU-", i, prop.name);
    const unsigned char* u = reinterpret_cast<const unsigned char*>(prop.uuid.bytes);
    for (int b = 0; b < 16; ++b) {
      std::printf("%02x", u[b]);
      if (b == 3 || b == 5 || b == 7 || b == 9) std::printf("-");
    }
    std::printf("\n");
    cudaSetDevice(i);
    int* d = nullptr;
    int h = 41;
    cudaMalloc(&d, sizeof(int));
    cudaMemcpy(d, &h, sizeof(int), cudaMemcpyHostToDevice);
    AddOne<<<1, 1>>>(d);
    cudaMemcpy(&h, d, sizeof(int), cudaMemcpyDeviceToHost);
    cudaFree(d);
    std::printf("device %d: kernel result %d\n", i, h);
    if (h != 42) return 1;
  }
  return count > 0 ? 0 : 1;
}
