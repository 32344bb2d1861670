// Fused 4D-correlation sampling: bilinear sampling of a (2r+1)^2 neighbourhood per (frame, point) and its product
// with the point's (2r+1)^2 query support features, on-chip; only the K^4 correlations per (frame, point) reach
// global memory. See corr4d.h for the layout contract.
//
// Sampling identity used by the tiled kernels: border-clamped bilinear sampling at x equals bilinear interpolation
// at x of the edge-replicated image E(u) = P[clamp(u, 0, W-1)]. All taps of one neighbourhood then share the same
// fractional weights (fx, fy), and tap (a, b) reads E at integer columns x0 + a, x0 + a + 1 and rows y0 + b, y0 + b + 1
// with (x0, y0) = floor(centre) - r.
#include "corr4d.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include <stdint.h>

#include <atomic>

namespace {

// ------------------------------------------------------------------------------------------------ element types
template <typename T>
__device__ __forceinline__ float to_float(T v);
template <>
__device__ __forceinline__ float to_float<float>(float v) { return v; }
template <>
__device__ __forceinline__ float to_float<__half>(__half v) { return __half2float(v); }
template <>
__device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) { return v; }
template <>
__device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

struct Params {
  const void* fmap;
  const void* coords;
  const void* query;
  void* out;
  int B, T, N, C, H, W, radius;
  long long qsb, qsn;    // query strides (elements) of batch and point
  int coords_f32;        // 1: coords are float32, 0: the element type
  int frames_per_block;  // tiled kernels: frames handled by one block (a multiple of the frame group)
};

template <typename T>
__device__ __forceinline__ float load_coord(const Params& p, long long idx) {
  return p.coords_f32 ? static_cast<const float*>(p.coords)[idx] : to_float(static_cast<const T*>(p.coords)[idx]);
}

// Integer origin (x0, y0) = floor(centre) - r and fractional weights of one neighbourhood.
struct Cell {
  int x0, y0;
  float fx, fy;
};

__device__ __forceinline__ Cell make_cell(float cx, float cy, int W, int H, int r) {
  // Beyond r + 2 pixels outside the map every tap reads the border value, so clamping the centre there changes
  // nothing and keeps the integer conversion in range (NaN becomes the lower bound).
  cx = fminf(fmaxf(cx, -(float)(r + 2)), (float)(W + r + 1));
  cy = fminf(fmaxf(cy, -(float)(r + 2)), (float)(H + r + 1));
  const float flx = floorf(cx), fly = floorf(cy);
  Cell c;
  c.x0 = (int)flx - r;
  c.y0 = (int)fly - r;
  c.fx = cx - flx;
  c.fy = cy - fly;
  return c;
}

__device__ __forceinline__ int clampi(int v, int hi) { return min(max(v, 0), hi); }

// Bilinear value of tap (a, b) of `cell` in one channel plane (H, W).
template <typename T>
__device__ __forceinline__ float sample_tap(const T* __restrict__ plane, const Cell& cell, int a, int b, int W,
                                            int H) {
  const int xa = clampi(cell.x0 + a, W - 1), xb = clampi(cell.x0 + a + 1, W - 1);
  const int ya = clampi(cell.y0 + b, H - 1), yb = clampi(cell.y0 + b + 1, H - 1);
  const float v00 = to_float(plane[(long long)ya * W + xa]), v10 = to_float(plane[(long long)ya * W + xb]);
  const float v01 = to_float(plane[(long long)yb * W + xa]), v11 = to_float(plane[(long long)yb * W + xb]);
  const float top = (1.f - cell.fx) * v00 + cell.fx * v10;
  const float bot = (1.f - cell.fx) * v01 + cell.fx * v11;
  return (1.f - cell.fy) * top + cell.fy * bot;
}

// ------------------------------------------------------------------------------------------------ naive kernel
// One thread per output value: samples all C channels of its tap and dots them with one query row.
// The first FG threads place point n in frames t0..t0+nf-1 (the rest of the group gets empty cells).
template <typename T, int FG>
__device__ __forceinline__ void load_cells(const Params& p, Cell* cells, int b, int n, int t0, int nf, int W, int H) {
  const int tid = threadIdx.x;
  if (tid < FG) {
    Cell c{0, 0, 0.f, 0.f};
    if (tid < nf) {
      const long long pt = ((long long)b * p.T + t0 + tid) * p.N + n;
      c = make_cell(load_coord<T>(p, 2 * pt), load_coord<T>(p, 2 * pt + 1), W, H, p.radius);
    }
    cells[tid] = c;
  }
}

template <typename T>
__global__ void corr4d_naive_kernel(Params p) {
  const int K = 2 * p.radius + 1, KK = K * K;
  const long long total = (long long)p.B * p.T * p.N * KK * KK;
  const long long HW = (long long)p.H * p.W;
  const T* __restrict__ fmap = static_cast<const T*>(p.fmap);
  const T* __restrict__ query = static_cast<const T*>(p.query);
  T* __restrict__ out = static_cast<T*>(p.out);
  for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
       e += (long long)gridDim.x * blockDim.x) {
    const int j = (int)(e % KK);
    long long rest = e / KK;
    const int i = (int)(rest % KK);
    rest /= KK;
    const int n = (int)(rest % p.N);
    rest /= p.N;
    const int t = (int)(rest % p.T);
    const int b = (int)(rest / p.T);
    const long long pt = ((long long)b * p.T + t) * p.N + n;
    const Cell cell = make_cell(load_coord<T>(p, 2 * pt), load_coord<T>(p, 2 * pt + 1), p.W, p.H, p.radius);
    const T* planes = fmap + ((long long)b * p.T + t) * p.C * HW;
    const T* q = query + b * p.qsb + n * p.qsn + (long long)j * p.C;
    float acc = 0.f;
    for (int c = 0; c < p.C; ++c) acc = fmaf(sample_tap(planes + c * HW, cell, i / K, i % K, p.W, p.H), to_float(q[c]), acc);
    out[e] = from_float<T>(acc);
  }
}

// ------------------------------------------------------------------------------------------------ tiled kernels
// Frames sampled and multiplied together by one block: the largest power of two <= 16 with FG * K^2 <= 256.
template <int K>
struct Tile {
  static constexpr int KK = K * K;
  static constexpr int FG = (16 * KK <= 256) ? 16 : (8 * KK <= 256) ? 8 : (4 * KK <= 256) ? 4 : (2 * KK <= 256) ? 2 : 1;
  static constexpr int ROWS = FG * KK;  // sampled rows per frame group
};

__host__ __device__ constexpr int align_up(int v, int a) { return (v + a - 1) / a * a; }

// --- SIMT: thread (f, ti, tj) owns the K x K block of outputs (targets ti*K + u, queries tj*K + v) of frame f.
template <int K>
struct Simt {
  static constexpr int KK = Tile<K>::KK, FG = Tile<K>::FG, ROWS = Tile<K>::ROWS;
  static constexpr int THREADS = align_up(ROWS, 32);
  static constexpr int CK = 32;       // channels sampled per pass
  static constexpr int ALD = CK + 4;  // row stride (floats) of the sampled chunk: float4-aligned, spreads banks
  static size_t smem_bytes(int C) {
    const int q = align_up(KK * (C + 4), 32);
    const int work = ROWS * ALD > ROWS * KK ? ROWS * ALD : ROWS * KK;
    return (size_t)(q + work) * sizeof(float);
  }
};

template <int K, typename T>
__global__ void __launch_bounds__(Simt<K>::THREADS) corr4d_simt_kernel(Params p) {
  using S = Simt<K>;
  constexpr int KK = S::KK, FG = S::FG, ROWS = S::ROWS, CK = S::CK, ALD = S::ALD;
  extern __shared__ __align__(16) float smem[];
  __shared__ Cell cells[FG];

  const int n = blockIdx.x, b = blockIdx.z;
  const int t_begin = blockIdx.y * p.frames_per_block;
  const int t_end = min(p.T, t_begin + p.frames_per_block);
  if (t_begin >= t_end) return;  // whole block
  const int C = p.C, H = p.H, W = p.W, qld = C + 4;
  const long long HW = (long long)H * W;
  float* Qs = smem;                               // (KK, C + 4) query rows, fp32
  float* work = smem + align_up(KK * qld, 32);    // sampled chunk (ROWS, ALD) / staged output (FG, KK * KK)
  const T* __restrict__ fmap = static_cast<const T*>(p.fmap);
  T* __restrict__ out = static_cast<T*>(p.out);

  const T* q = static_cast<const T*>(p.query) + b * p.qsb + n * p.qsn;
  for (int e = threadIdx.x; e < KK * C; e += blockDim.x) {
    const int j = e / C;
    Qs[j * qld + (e - j * C)] = to_float(q[e]);
  }

  const int tid = threadIdx.x;
  const bool owner = tid < ROWS;
  const int f = tid / KK, rem = tid - (tid / KK) * KK, ti = rem / K, tj = rem - (rem / K) * K;

  for (int t0 = t_begin; t0 < t_end; t0 += FG) {
    const int nf = min(FG, t_end - t0);
    load_cells<T, FG>(p, cells, b, n, t0, nf, W, H);
    float acc[K][K];
#pragma unroll
    for (int u = 0; u < K; ++u)
#pragma unroll
      for (int v = 0; v < K; ++v) acc[u][v] = 0.f;

    for (int c0 = 0; c0 < C; c0 += CK) {
      const int ck = min(CK, C - c0);  // a multiple of 8
      __syncthreads();                 // cells written; previous users of `work` done; Qs loaded
      // sample: consecutive threads take consecutive x taps of one row of one channel (the contiguous direction)
      for (int e = tid; e < ROWS * ck; e += blockDim.x) {
        const int a = e % K;
        const int r1 = e / K;
        const int bb = r1 % K;
        const int r2 = r1 / K;
        const int cc = r2 % ck;
        const int ff = r2 / ck;
        float v = 0.f;
        if (ff < nf) {
          const T* plane = fmap + (((long long)b * p.T + t0 + ff) * C + c0 + cc) * HW;
          v = sample_tap(plane, cells[ff], a, bb, W, H);
        }
        work[(ff * KK + a * K + bb) * ALD + cc] = v;
      }
      __syncthreads();
      if (owner) {
        const float* arow = work + (f * KK + ti * K) * ALD;
        const float* qrow = Qs + (tj * K) * qld + c0;
        for (int k = 0; k < ck; k += 4) {
          float4 av[K], qv[K];
#pragma unroll
          for (int u = 0; u < K; ++u) {
            av[u] = *reinterpret_cast<const float4*>(arow + u * ALD + k);
            qv[u] = *reinterpret_cast<const float4*>(qrow + u * qld + k);
          }
#pragma unroll
          for (int u = 0; u < K; ++u)
#pragma unroll
            for (int v = 0; v < K; ++v) {
              float s = acc[u][v];
              s = fmaf(av[u].x, qv[v].x, s);
              s = fmaf(av[u].y, qv[v].y, s);
              s = fmaf(av[u].z, qv[v].z, s);
              s = fmaf(av[u].w, qv[v].w, s);
              acc[u][v] = s;
            }
        }
      }
    }
    __syncthreads();  // everyone done reading the sampled chunk: `work` becomes the output stage
    if (owner && f < nf) {
      float* o = work + f * KK * KK;
#pragma unroll
      for (int u = 0; u < K; ++u)
#pragma unroll
        for (int v = 0; v < K; ++v) o[(ti * K + u) * KK + tj * K + v] = acc[u][v];
    }
    __syncthreads();
    // coalesced: the K^4 values of one (frame, point) are contiguous in `out`
    for (int e = tid; e < nf * KK * KK; e += blockDim.x) {
      const int ff = e / (KK * KK);
      out[(((long long)b * p.T + t0 + ff) * p.N + n) * (KK * KK) + (e - ff * KK * KK)] = from_float<T>(work[e]);
    }
  }
}

// --- MMA: rows = FG frames x KK taps (padded to 16), columns = KK queries (padded to 16), WMMA 16x16x16 tiles with
// fp32 accumulators spread over 8 warps; the staged fp32 tile block is written out coalesced.
template <int K>
struct Mma {
  static constexpr int KK = Tile<K>::KK, FG = Tile<K>::FG, ROWS = Tile<K>::ROWS;
  static constexpr int RP = align_up(ROWS, 16), NP = align_up(KK, 16);
  static constexpr int MT = RP / 16, NT = NP / 16, TILES = MT * NT;
  static constexpr int WARPS = 8, THREADS = WARPS * 32;
  static constexpr int TPW = (TILES + WARPS - 1) / WARPS;  // accumulator tiles per warp
  static constexpr int CKM = 128;                          // channels sampled per pass (multiple of 16)
  static constexpr int OLD = NP + 4;                       // staged output row stride (floats)
  __host__ __device__ static int padded_channels(int C) { return align_up(C, 16); }
  __host__ __device__ static size_t q_bytes(int C) { return (size_t)align_up(NP * (padded_channels(C) + 8) * 2, 128); }
  static size_t smem_bytes(int C) {  // + 128: the kernel aligns its base to 128 bytes (WMMA wants 32)
    const int ck = padded_channels(C) < CKM ? padded_channels(C) : CKM;
    const size_t a = (size_t)RP * (ck + 8) * 2, o = (size_t)RP * OLD * 4;
    return 128 + q_bytes(C) + (a > o ? a : o);
  }
};

template <int K, typename T>
__global__ void __launch_bounds__(Mma<K>::THREADS) corr4d_mma_kernel(Params p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  using M = Mma<K>;
  namespace wmma = nvcuda::wmma;
  constexpr int KK = M::KK, FG = M::FG, ROWS = M::ROWS, RP = M::RP, NP = M::NP, NT = M::NT, TILES = M::TILES;
  constexpr int WARPS = M::WARPS, TPW = M::TPW, CKM = M::CKM, OLD = M::OLD;
  extern __shared__ __align__(16) unsigned char smem_dyn[];
  unsigned char* smem_raw = reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(smem_dyn) + 127) &
                                                             ~static_cast<uintptr_t>(127));
  __shared__ Cell cells[FG];

  const int n = blockIdx.x, b = blockIdx.z;
  const int t_begin = blockIdx.y * p.frames_per_block;
  const int t_end = min(p.T, t_begin + p.frames_per_block);
  if (t_begin >= t_end) return;
  const int C = p.C, H = p.H, W = p.W;
  const int CP = M::padded_channels(C), qld = CP + 8;
  const long long HW = (long long)H * W;
  T* Qs = reinterpret_cast<T*>(smem_raw);                              // (NP, CP + 8) query rows
  unsigned char* work = smem_raw + M::q_bytes(C);                      // sampled chunk / staged output
  T* As = reinterpret_cast<T*>(work);                                  // (RP, ck + 8)
  float* Os = reinterpret_cast<float*>(work);                          // (RP, OLD)
  const T* __restrict__ fmap = static_cast<const T*>(p.fmap);
  T* __restrict__ out = static_cast<T*>(p.out);
  const int tid = threadIdx.x, warp = tid / 32;

  const T* q = static_cast<const T*>(p.query) + b * p.qsb + n * p.qsn;
  for (int e = tid; e < NP * CP; e += blockDim.x) {  // padding rows/channels are zero
    const int j = e / CP, c = e - (e / CP) * CP;
    Qs[j * qld + c] = (j < KK && c < C) ? q[j * C + c] : from_float<T>(0.f);
  }

  for (int t0 = t_begin; t0 < t_end; t0 += FG) {
    const int nf = min(FG, t_end - t0);
    load_cells<T, FG>(p, cells, b, n, t0, nf, W, H);
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[TPW];
#pragma unroll
    for (int s = 0; s < TPW; ++s) wmma::fill_fragment(acc[s], 0.f);

    for (int c0 = 0; c0 < CP; c0 += CKM) {
      const int ck = min(CKM, CP - c0);  // a multiple of 16
      const int ald = ck + 8;
      __syncthreads();
      for (int e = tid; e < ROWS * ck; e += blockDim.x) {
        const int a = e % K;
        const int r1 = e / K;
        const int bb = r1 % K;
        const int r2 = r1 / K;
        const int cc = r2 % ck;
        const int ff = r2 / ck;
        float v = 0.f;
        if (ff < nf && c0 + cc < C) {
          const T* plane = fmap + (((long long)b * p.T + t0 + ff) * C + c0 + cc) * HW;
          v = sample_tap(plane, cells[ff], a, bb, W, H);
        }
        As[(ff * KK + a * K + bb) * ald + cc] = from_float<T>(v);
      }
      for (int e = tid; e < (RP - ROWS) * ck; e += blockDim.x)  // padding rows (aliased by the output stage)
        As[(ROWS + e / ck) * ald + e % ck] = from_float<T>(0.f);
      __syncthreads();
#pragma unroll
      for (int s = 0; s < TPW; ++s) {
        const int tile = warp + s * WARPS;
        if (tile < TILES) {
          const int m = tile / NT, nn = tile - (tile / NT) * NT;
          for (int k = 0; k < ck; k += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa;
            wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> fb;
            wmma::load_matrix_sync(fa, As + m * 16 * ald + k, ald);
            wmma::load_matrix_sync(fb, Qs + nn * 16 * qld + c0 + k, qld);
            wmma::mma_sync(acc[s], fa, fb, acc[s]);
          }
        }
      }
    }
    __syncthreads();  // As no longer read: stage the accumulators over it
#pragma unroll
    for (int s = 0; s < TPW; ++s) {
      const int tile = warp + s * WARPS;
      if (tile < TILES) {
        const int m = tile / NT, nn = tile - (tile / NT) * NT;
        wmma::store_matrix_sync(Os + m * 16 * OLD + nn * 16, acc[s], OLD, wmma::mem_row_major);
      }
    }
    __syncthreads();
    for (int e = tid; e < nf * KK * KK; e += blockDim.x) {
      const int ff = e / (KK * KK), r = e - ff * KK * KK, i = r / KK, j = r - (r / KK) * KK;
      out[(((long long)b * p.T + t0 + ff) * p.N + n) * (KK * KK) + r] = from_float<T>(Os[(ff * KK + i) * OLD + j]);
    }
  }
#else
  __trap();  // the host never launches this below sm_80
#endif
}

// ------------------------------------------------------------------------------------------------ host side
thread_local cudaError_t g_last_cuda_error = cudaSuccess;

int32_t cuda_fail(cudaError_t e) {
  g_last_cuda_error = e;
  return RT_EDGE_ERR_CUDA;
}

struct DeviceInfo {
  int dev = 0, sms = 0, major = 0, smem_optin = 0;
};

cudaError_t device_info(DeviceInfo& d) {
  cudaError_t e = cudaGetDevice(&d.dev);
  const int dev = d.dev;
  if (e == cudaSuccess) e = cudaDeviceGetAttribute(&d.sms, cudaDevAttrMultiProcessorCount, dev);
  if (e == cudaSuccess) e = cudaDeviceGetAttribute(&d.major, cudaDevAttrComputeCapabilityMajor, dev);
  if (e == cudaSuccess) e = cudaDeviceGetAttribute(&d.smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
  return e;
}

size_t simt_smem(int radius, int C) {
  switch (radius) {
    case 1: return Simt<3>::smem_bytes(C);
    case 2: return Simt<5>::smem_bytes(C);
    case 3: return Simt<7>::smem_bytes(C);
    case 4: return Simt<9>::smem_bytes(C);
    default: return 0;
  }
}

size_t mma_smem(int radius, int C) {
  switch (radius) {
    case 1: return Mma<3>::smem_bytes(C);
    case 2: return Mma<5>::smem_bytes(C);
    case 3: return Mma<7>::smem_bytes(C);
    case 4: return Mma<9>::smem_bytes(C);
    default: return 0;
  }
}

int frame_group(int radius) {
  switch (radius) {
    case 1: return Tile<3>::FG;
    case 2: return Tile<5>::FG;
    case 3: return Tile<7>::FG;
    case 4: return Tile<9>::FG;
    default: return 1;
  }
}

// Dynamic shared memory a tiled kernel may use: the opt-in limit less a margin for its static `cells` array.
size_t smem_limit(const DeviceInfo& d) { return d.smem_optin > 1024 ? (size_t)d.smem_optin - 1024 : 0; }

int32_t pick(const DeviceInfo& d, int C, int radius, int dtype) {
  if (radius < 1 || radius > 4) return RT_EDGE_CORR4D_NAIVE;
  const size_t limit = smem_limit(d);
  if (dtype != RT_EDGE_FLOAT32 && d.major >= 8 && mma_smem(radius, C) <= limit) return RT_EDGE_CORR4D_MMA;
  if (simt_smem(radius, C) <= limit) return RT_EDGE_CORR4D_SIMT;
  return RT_EDGE_CORR4D_NAIVE;
}

// Frames per block of the tiled kernels: all of them (the query rows are loaded once per point) unless that leaves
// too few blocks to fill the device; then the frames are split into chunks of whole frame groups.
int frames_per_block(const Params& p, const DeviceInfo& d) {
  const int fg = frame_group(p.radius);
  const int groups = (p.T + fg - 1) / fg;
  const long long want = 4LL * (d.sms > 0 ? d.sms : 1), have = (long long)p.N * p.B;
  int chunks = have >= want ? 1 : (int)((want + have - 1) / have);
  if (chunks > groups) chunks = groups;
  return ((groups + chunks - 1) / chunks) * fg;
}

// Raises a kernel's dynamic shared-memory limit once per device (not on every launch, so that launches inside a
// CUDA-graph capture make no attribute calls after the first, uncaptured one).
constexpr int kMaxDevices = 64;

template <auto Kernel>
cudaError_t ensure_smem(size_t smem, int dev) {
  static std::atomic<int> configured[kMaxDevices];  // static storage: zero-initialised
  if (smem <= 48 * 1024) return cudaSuccess;
  const bool tracked = dev >= 0 && dev < kMaxDevices;
  if (tracked && configured[dev].load() >= (int)smem) return cudaSuccess;
  const cudaError_t e = cudaFuncSetAttribute(Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
  if (e == cudaSuccess && tracked) configured[dev].store((int)smem);
  return e;
}

template <auto Kernel>
cudaError_t launch_tiled(const Params& p, int threads, size_t smem, const DeviceInfo& d, cudaStream_t stream) {
  const cudaError_t e = ensure_smem<Kernel>(smem, d.dev);
  if (e != cudaSuccess) return e;
  const dim3 grid((unsigned)p.N, (unsigned)((p.T + p.frames_per_block - 1) / p.frames_per_block), (unsigned)p.B);
  Kernel<<<grid, threads, smem, stream>>>(p);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch(int algo, Params p, const DeviceInfo& d, cudaStream_t stream) {
  if (algo == RT_EDGE_CORR4D_NAIVE) {
    const long long KK = (2LL * p.radius + 1) * (2LL * p.radius + 1);
    const long long total = (long long)p.B * p.T * p.N * KK * KK;
    long long blocks = (total + 255) / 256;
    if (blocks > (1LL << 20)) blocks = 1LL << 20;
    corr4d_naive_kernel<T><<<(unsigned)blocks, 256, 0, stream>>>(p);
    return cudaGetLastError();
  }
  p.frames_per_block = frames_per_block(p, d);
  if (algo == RT_EDGE_CORR4D_SIMT) {
    const size_t smem = simt_smem(p.radius, p.C);
    switch (p.radius) {
      case 1: return launch_tiled<corr4d_simt_kernel<3, T>>(p, Simt<3>::THREADS, smem, d, stream);
      case 2: return launch_tiled<corr4d_simt_kernel<5, T>>(p, Simt<5>::THREADS, smem, d, stream);
      case 3: return launch_tiled<corr4d_simt_kernel<7, T>>(p, Simt<7>::THREADS, smem, d, stream);
      case 4: return launch_tiled<corr4d_simt_kernel<9, T>>(p, Simt<9>::THREADS, smem, d, stream);
    }
  }
  return cudaErrorInvalidValue;  // unreachable: callers validate the algorithm
}

template <typename T>
cudaError_t launch_mma(Params p, const DeviceInfo& d, cudaStream_t stream) {
  p.frames_per_block = frames_per_block(p, d);
  const size_t smem = mma_smem(p.radius, p.C);
  switch (p.radius) {
    case 1: return launch_tiled<corr4d_mma_kernel<3, T>>(p, Mma<3>::THREADS, smem, d, stream);
    case 2: return launch_tiled<corr4d_mma_kernel<5, T>>(p, Mma<5>::THREADS, smem, d, stream);
    case 3: return launch_tiled<corr4d_mma_kernel<7, T>>(p, Mma<7>::THREADS, smem, d, stream);
    case 4: return launch_tiled<corr4d_mma_kernel<9, T>>(p, Mma<9>::THREADS, smem, d, stream);
  }
  return cudaErrorInvalidValue;
}

// Makes `device` current for the lifetime of the guard (device < 0: leaves the current one).
struct DeviceGuard {
  int prev = -1;
  cudaError_t error = cudaSuccess;
  explicit DeviceGuard(int device) {
    if (device < 0) return;
    int cur = 0;
    error = cudaGetDevice(&cur);
    if (error == cudaSuccess && cur != device) {
      error = cudaSetDevice(device);
      if (error == cudaSuccess) prev = cur;
    }
  }
  ~DeviceGuard() {
    if (prev >= 0) cudaSetDevice(prev);
  }
};

}  // namespace

extern "C" {

RT_EDGE_API int32_t rt_edge_corr4d(const void* fmap, const void* coords, const void* query, void* out,
                                   int32_t batch, int32_t frames, int32_t points, int32_t channels, int32_t height,
                                   int32_t width, int32_t radius, int64_t query_stride_batch,
                                   int64_t query_stride_point, int32_t dtype, int32_t coords_dtype, int32_t algo,
                                   int32_t device, void* stream) {
  if (batch < 0 || frames < 0 || points < 0 || channels <= 0 || channels % 8 != 0 || height <= 0 || width <= 0 ||
      radius < 0 || radius > 15 || batch > 65535 || query_stride_batch < 0 || query_stride_point < 0)
    return RT_EDGE_ERR_ARGUMENT;
  if (dtype < RT_EDGE_FLOAT32 || dtype > RT_EDGE_BFLOAT16) return RT_EDGE_ERR_DTYPE;
  if (coords_dtype != RT_EDGE_FLOAT32 && coords_dtype != dtype) return RT_EDGE_ERR_DTYPE;
  if (algo < RT_EDGE_CORR4D_AUTO || algo > RT_EDGE_CORR4D_MMA) return RT_EDGE_ERR_ARGUMENT;
  if (batch == 0 || frames == 0 || points == 0) return RT_EDGE_OK;
  if (!fmap || !coords || !query || !out) return RT_EDGE_ERR_ARGUMENT;

  DeviceGuard guard(device);
  if (guard.error != cudaSuccess) return cuda_fail(guard.error);
  DeviceInfo d;
  cudaError_t e = device_info(d);
  if (e != cudaSuccess) return cuda_fail(e);
  if (algo == RT_EDGE_CORR4D_AUTO) algo = pick(d, channels, radius, dtype);
  if (algo != RT_EDGE_CORR4D_NAIVE) {
    if (radius < 1 || radius > 4) return RT_EDGE_ERR_UNSUPPORTED;
    if (algo == RT_EDGE_CORR4D_SIMT && simt_smem(radius, channels) > smem_limit(d))
      return RT_EDGE_ERR_UNSUPPORTED;
    if (algo == RT_EDGE_CORR4D_MMA &&
        (dtype == RT_EDGE_FLOAT32 || d.major < 8 || mma_smem(radius, channels) > smem_limit(d)))
      return RT_EDGE_ERR_UNSUPPORTED;
  }

  Params p;
  p.fmap = fmap;
  p.coords = coords;
  p.query = query;
  p.out = out;
  p.B = batch;
  p.T = frames;
  p.N = points;
  p.C = channels;
  p.H = height;
  p.W = width;
  p.radius = radius;
  p.qsb = query_stride_batch;
  p.qsn = query_stride_point;
  p.coords_f32 = coords_dtype == RT_EDGE_FLOAT32;
  p.frames_per_block = frames;
  cudaStream_t s = static_cast<cudaStream_t>(stream);

  if (algo == RT_EDGE_CORR4D_MMA) {
    e = dtype == RT_EDGE_FLOAT16 ? launch_mma<__half>(p, d, s) : launch_mma<__nv_bfloat16>(p, d, s);
  } else if (dtype == RT_EDGE_FLOAT32) {
    e = launch<float>(algo, p, d, s);
  } else if (dtype == RT_EDGE_FLOAT16) {
    e = launch<__half>(algo, p, d, s);
  } else {
    e = launch<__nv_bfloat16>(algo, p, d, s);
  }
  return e == cudaSuccess ? RT_EDGE_OK : cuda_fail(e);
}

RT_EDGE_API int32_t rt_edge_corr4d_pick_algo(int32_t channels, int32_t radius, int32_t dtype, int32_t device) {
  if (channels <= 0 || channels % 8 != 0 || radius < 0 || radius > 15) return -RT_EDGE_ERR_ARGUMENT;
  if (dtype < RT_EDGE_FLOAT32 || dtype > RT_EDGE_BFLOAT16) return -RT_EDGE_ERR_DTYPE;
  DeviceGuard guard(device);
  if (guard.error != cudaSuccess) {
    g_last_cuda_error = guard.error;
    return -RT_EDGE_ERR_CUDA;
  }
  DeviceInfo d;
  cudaError_t e = device_info(d);
  if (e != cudaSuccess) {
    g_last_cuda_error = e;
    return -RT_EDGE_ERR_CUDA;
  }
  return pick(d, channels, radius, dtype);
}

RT_EDGE_API const char* rt_edge_corr4d_status_string(int32_t status) {
  switch (status) {
    case RT_EDGE_OK: return "ok";
    case RT_EDGE_ERR_ARGUMENT: return "invalid argument (sizes, radius 0..15, C a positive multiple of 8, strides)";
    case RT_EDGE_ERR_DTYPE: return "invalid dtype (features float32/float16/bfloat16; coords float32 or the same)";
    case RT_EDGE_ERR_UNSUPPORTED: return "the requested algorithm cannot run this problem on this device";
    case RT_EDGE_ERR_CUDA: return "CUDA error";
    default: return "unknown status";
  }
}

RT_EDGE_API const char* rt_edge_corr4d_last_cuda_error(void) { return cudaGetErrorString(g_last_cuda_error); }

RT_EDGE_API int32_t rt_edge_corr4d_abi_version(void) { return RT_EDGE_CORR4D_ABI_VERSION; }

}  // extern "C"
