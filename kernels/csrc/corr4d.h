// Fused 4D-correlation sampling kernel: C launch API (ctypes, the TensorRT plugin and the C++ test call it).
//
// corr[b, t, n, i * K*K + j] = sum_c  bilinear(fmap[b, t, c], coords[b, t, n] + offset_i) * query[b, n, j, c]
//
//   fmap   (B, T, C, H, W)  one pyramid level, contiguous
//   coords (B, T, N, 2)     (x, y) in that level's pixels (pixel centres at integers), contiguous
//   query  (B, N, K, K, C)  query support features; the (K, K, C) block of one point is contiguous, the batch and
//                           point strides are given (so a level sliced out of (B, N, L, K, K, C) needs no copy)
//   out    (B, T, N, K^4)   contiguous, same element type as fmap
//
// K = 2 * radius + 1. Offsets i = a * K + b are (dx, dy) = (a - radius, b - radius): the first index steps x.
// Sampling clamps to the border (grid_sample's padding_mode="border", align_corners=True). Accumulation is fp32.
#ifndef RT_EDGE_CORR4D_H
#define RT_EDGE_CORR4D_H

#include <stdint.h>

#if defined(_WIN32)
#define RT_EDGE_API __declspec(dllexport)
#else
#define RT_EDGE_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

// Element types (fmap, query and out share one; coords are float32 or that same type).
#define RT_EDGE_FLOAT32 0
#define RT_EDGE_FLOAT16 1
#define RT_EDGE_BFLOAT16 2

// Algorithms. AUTO: SIMT for float32, tensor-core MMA for float16/bfloat16 on sm_80+, NAIVE where neither applies
// (radius outside 1..4, or shared memory too small for C).
#define RT_EDGE_CORR4D_AUTO 0
#define RT_EDGE_CORR4D_NAIVE 1  // one thread per output value, re-samples per value: slow, obviously correct
#define RT_EDGE_CORR4D_SIMT 2   // per point: sample into shared memory, register-tiled fp32 FMA product
#define RT_EDGE_CORR4D_MMA 3    // per point: sample into shared memory, WMMA 16x16x16 tensor-core product

// Status codes.
#define RT_EDGE_OK 0
#define RT_EDGE_ERR_ARGUMENT 1     // a size, radius, stride or pointer is invalid
#define RT_EDGE_ERR_DTYPE 2        // unknown element type or coords type
#define RT_EDGE_ERR_UNSUPPORTED 3  // the requested algorithm cannot run this problem on this device
#define RT_EDGE_ERR_CUDA 4         // a CUDA call failed; rt_edge_corr4d_last_cuda_error() names it

#define RT_EDGE_CORR4D_ABI_VERSION 1

// Launch on `stream` (a cudaStream_t; NULL = legacy default stream). device >= 0 makes that device current for the
// call (and restores the previous one); device < 0 uses the current device. Asynchronous: returns after the launch.
RT_EDGE_API int32_t rt_edge_corr4d(const void* fmap, const void* coords, const void* query, void* out,
                                   int32_t batch, int32_t frames, int32_t points, int32_t channels, int32_t height,
                                   int32_t width, int32_t radius, int64_t query_stride_batch,
                                   int64_t query_stride_point, int32_t dtype, int32_t coords_dtype, int32_t algo,
                                   int32_t device, void* stream);

// The algorithm AUTO resolves to for this problem on `device` (< 0: current), or a negative status on error.
RT_EDGE_API int32_t rt_edge_corr4d_pick_algo(int32_t channels, int32_t radius, int32_t dtype, int32_t device);

// A short text for a status code.
RT_EDGE_API const char* rt_edge_corr4d_status_string(int32_t status);

// cudaGetErrorString of the last CUDA failure seen by this thread ("no error" if none).
RT_EDGE_API const char* rt_edge_corr4d_last_cuda_error(void);

// RT_EDGE_CORR4D_ABI_VERSION of the compiled library.
RT_EDGE_API int32_t rt_edge_corr4d_abi_version(void);

#ifdef __cplusplus
}
#endif

#endif  // RT_EDGE_CORR4D_H
