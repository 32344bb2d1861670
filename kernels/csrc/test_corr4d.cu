// C++ test of the corr4d launch API: every algorithm and element type against a naive float64 host implementation
// written from the semantics (clamp the tap to [0, W-1] x [0, H-1], then bilinear). Without a CUDA device it prints
// "no CUDA device: skipped" and exits 0 (CI builds and runs it on machines without a GPU).
//
//   test_corr4d          all cases
//   test_corr4d quick    the model's sizes only, one case per algorithm and type (for compute-sanitizer runs)
#include "corr4d.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

namespace {

struct Case {
  int B, T, N, C, H, W, radius, dtype, coords_dtype, algo;
};

// Host copies of the inputs as they are stored on the device (rounded to the element type), in double.
struct Problem {
  Case cs;
  std::vector<double> fmap, coords, query;  // (B,T,C,H,W), (B,T,N,2), (B,N,K,K,C)
};

double bilinear(const double* plane, int H, int W, double x, double y) {
  x = std::fmin(std::fmax(x, 0.0), W - 1.0);
  y = std::fmin(std::fmax(y, 0.0), H - 1.0);
  const int x0 = (int)std::floor(x), y0 = (int)std::floor(y);
  const int x1 = std::min(x0 + 1, W - 1), y1 = std::min(y0 + 1, H - 1);
  const double fx = x - x0, fy = y - y0;
  return (1 - fy) * ((1 - fx) * plane[y0 * W + x0] + fx * plane[y0 * W + x1]) +
         fy * ((1 - fx) * plane[y1 * W + x0] + fx * plane[y1 * W + x1]);
}

std::vector<double> reference(const Problem& p) {
  const Case& c = p.cs;
  const int K = 2 * c.radius + 1, KK = K * K;
  std::vector<double> out((size_t)c.B * c.T * c.N * KK * KK);
  std::vector<double> sampled((size_t)KK * c.C);
  for (int b = 0; b < c.B; ++b)
    for (int t = 0; t < c.T; ++t)
      for (int n = 0; n < c.N; ++n) {
        const double* xy = &p.coords[(((size_t)b * c.T + t) * c.N + n) * 2];
        for (int a = 0; a < K; ++a)
          for (int bb = 0; bb < K; ++bb)
            for (int ch = 0; ch < c.C; ++ch) {
              const double* plane = &p.fmap[(((size_t)b * c.T + t) * c.C + ch) * c.H * c.W];
              sampled[(size_t)(a * K + bb) * c.C + ch] =
                  bilinear(plane, c.H, c.W, xy[0] + (a - c.radius), xy[1] + (bb - c.radius));
            }
        const double* q = &p.query[((size_t)b * c.N + n) * KK * c.C];
        double* o = &out[(((size_t)b * c.T + t) * c.N + n) * KK * KK];
        for (int i = 0; i < KK; ++i)
          for (int j = 0; j < KK; ++j) {
            double s = 0;
            for (int ch = 0; ch < c.C; ++ch) s += sampled[(size_t)i * c.C + ch] * q[(size_t)j * c.C + ch];
            o[i * KK + j] = s;
          }
      }
  return out;
}

size_t elem_size(int dtype) { return dtype == RT_EDGE_FLOAT32 ? 4 : 2; }

// Store `v` as `dtype` into raw[i] and return the stored value.
double store(std::vector<unsigned char>& raw, size_t i, double v, int dtype) {
  if (dtype == RT_EDGE_FLOAT32) {
    const float f = (float)v;
    std::memcpy(&raw[i * 4], &f, 4);
    return f;
  }
  if (dtype == RT_EDGE_FLOAT16) {
    const __half h = __float2half((float)v);
    std::memcpy(&raw[i * 2], &h, 2);
    return __half2float(h);
  }
  const __nv_bfloat16 h = __float2bfloat16((float)v);
  std::memcpy(&raw[i * 2], &h, 2);
  return __bfloat162float(h);
}

double load(const std::vector<unsigned char>& raw, size_t i, int dtype) {
  if (dtype == RT_EDGE_FLOAT32) {
    float f;
    std::memcpy(&f, &raw[i * 4], 4);
    return f;
  }
  if (dtype == RT_EDGE_FLOAT16) {
    __half h;
    std::memcpy(&h, &raw[i * 2], 2);
    return __half2float(h);
  }
  __nv_bfloat16 h;
  std::memcpy(&h, &raw[i * 2], 2);
  return __bfloat162float(h);
}

const char* dtype_name(int d) { return d == RT_EDGE_FLOAT32 ? "f32" : d == RT_EDGE_FLOAT16 ? "f16" : "bf16"; }

#define CHECK_CUDA(x)                                                                   \
  do {                                                                                  \
    cudaError_t e_ = (x);                                                               \
    if (e_ != cudaSuccess) {                                                            \
      std::printf("CUDA error %s at %s:%d\n", cudaGetErrorString(e_), __FILE__, __LINE__); \
      return false;                                                                     \
    }                                                                                   \
  } while (0)

// Runs one case; returns true when it passes (or the algorithm does not apply to this device).
bool run_case(const Case& c, std::mt19937& rng) {
  const int K = 2 * c.radius + 1, KK = K * K;
  const size_t nf = (size_t)c.B * c.T * c.C * c.H * c.W, nc = (size_t)c.B * c.T * c.N * 2;
  const size_t nq = (size_t)c.B * c.N * KK * c.C, no = (size_t)c.B * c.T * c.N * KK * KK;
  Problem p{c, std::vector<double>(nf), std::vector<double>(nc), std::vector<double>(nq)};
  std::vector<unsigned char> fraw(nf * elem_size(c.dtype)), craw(nc * elem_size(c.coords_dtype)),
      qraw(nq * elem_size(c.dtype)), oraw(no * elem_size(c.dtype));
  std::normal_distribution<double> gauss(0.0, 1.0);
  std::uniform_real_distribution<double> ux(-3.0, c.W + 2.0), uy(-3.0, c.H + 2.0);
  for (size_t i = 0; i < nf; ++i) p.fmap[i] = store(fraw, i, gauss(rng), c.dtype);
  for (size_t i = 0; i < nq; ++i) p.query[i] = store(qraw, i, gauss(rng), c.dtype);
  for (size_t i = 0; i < nc; i += 2) {  // inside, outside and far outside the map, sub-pixel
    p.coords[i] = store(craw, i, i % 10 == 0 ? -40.5 : ux(rng), c.coords_dtype);
    p.coords[i + 1] = store(craw, i + 1, i % 14 == 0 ? c.H + 30.25 : uy(rng), c.coords_dtype);
  }

  void *df, *dc, *dq, *dout;
  CHECK_CUDA(cudaMalloc(&df, fraw.size()));
  CHECK_CUDA(cudaMalloc(&dc, craw.size()));
  CHECK_CUDA(cudaMalloc(&dq, qraw.size()));
  CHECK_CUDA(cudaMalloc(&dout, oraw.size()));
  CHECK_CUDA(cudaMemcpy(df, fraw.data(), fraw.size(), cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(dc, craw.data(), craw.size(), cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(dq, qraw.data(), qraw.size(), cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemset(dout, 0xFF, oraw.size()));  // NaN in every element type: must be overwritten
  cudaStream_t stream;
  CHECK_CUDA(cudaStreamCreate(&stream));
  const int32_t status = rt_edge_corr4d(df, dc, dq, dout, c.B, c.T, c.N, c.C, c.H, c.W, c.radius,
                                        (int64_t)c.N * KK * c.C, (int64_t)KK * c.C, c.dtype, c.coords_dtype,
                                        c.algo, -1, stream);
  bool ok = true;
  char label[160];
  std::snprintf(label, sizeof label, "B=%d T=%d N=%d C=%d H=%d W=%d r=%d %s coords=%s algo=%d", c.B, c.T, c.N, c.C,
                c.H, c.W, c.radius, dtype_name(c.dtype), dtype_name(c.coords_dtype), c.algo);
  if (status == RT_EDGE_ERR_UNSUPPORTED) {
    std::printf("SKIP %s: %s\n", label, rt_edge_corr4d_status_string(status));
  } else if (status != RT_EDGE_OK) {
    std::printf("FAIL %s: status %d (%s; %s)\n", label, status, rt_edge_corr4d_status_string(status),
                rt_edge_corr4d_last_cuda_error());
    ok = false;
  } else {
    CHECK_CUDA(cudaStreamSynchronize(stream));
    CHECK_CUDA(cudaMemcpy(oraw.data(), dout, oraw.size(), cudaMemcpyDeviceToHost));
    const std::vector<double> ref = reference(p);
    double max_err = 0, max_ref = 0;
    size_t bad = 0;
    for (size_t i = 0; i < no; ++i) {
      const double v = load(oraw, i, c.dtype);
      if (!std::isfinite(v)) ++bad;
      max_err = std::fmax(max_err, std::fabs(v - ref[i]));
      max_ref = std::fmax(max_ref, std::fabs(ref[i]));
    }
    const double rel = max_err / std::fmax(max_ref, 1e-30);
    const double tol = c.dtype == RT_EDGE_FLOAT32 ? 1e-5 : 1e-2;
    ok = bad == 0 && rel < tol;
    std::printf("%s %s: rel err %.3g (tol %.0e), non-finite %zu\n", ok ? "PASS" : "FAIL", label, rel, tol, bad);
  }
  cudaStreamDestroy(stream);
  cudaFree(df);
  cudaFree(dc);
  cudaFree(dq);
  cudaFree(dout);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "quick") == 0;
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    std::printf("no CUDA device: skipped\n");
    return 0;
  }
  std::mt19937 rng(1234);
  std::vector<Case> cases;
  const int algos[] = {RT_EDGE_CORR4D_NAIVE, RT_EDGE_CORR4D_SIMT, RT_EDGE_CORR4D_MMA, RT_EDGE_CORR4D_AUTO};
  const int dtypes[] = {RT_EDGE_FLOAT32, RT_EDGE_FLOAT16, RT_EDGE_BFLOAT16};
  for (int dtype : dtypes)
    for (int algo : algos) {
      if (algo == RT_EDGE_CORR4D_MMA && dtype == RT_EDGE_FLOAT32) continue;
      cases.push_back({1, 16, 33, 128, 12, 16, 3, dtype, dtype, algo});          // the model's sizes, coords = dtype
      if (quick) continue;
      cases.push_back({2, 5, 7, 40, 9, 13, 3, dtype, RT_EDGE_FLOAT32, algo});    // C not a multiple of 16 or 32
      cases.push_back({1, 3, 5, 16, 1, 1, 3, dtype, RT_EDGE_FLOAT32, algo});     // a 1 x 1 map
      for (int r : {1, 2, 4}) cases.push_back({1, 4, 6, 24, 10, 11, r, dtype, RT_EDGE_FLOAT32, algo});
    }
  cases.push_back({1, 2, 3, 8, 6, 7, 0, RT_EDGE_FLOAT32, RT_EDGE_FLOAT32, RT_EDGE_CORR4D_AUTO});  // radius 0: naive
  cases.push_back({1, 2, 3, 8, 6, 7, 5, RT_EDGE_FLOAT32, RT_EDGE_FLOAT32, RT_EDGE_CORR4D_AUTO});  // radius 5: naive
  int failed = 0;
  for (const Case& c : cases) failed += run_case(c, rng) ? 0 : 1;
  // invalid arguments are refused before any launch
  const int32_t bad_c = rt_edge_corr4d(nullptr, nullptr, nullptr, nullptr, 1, 1, 1, 12, 4, 4, 3, 0, 0,
                                       RT_EDGE_FLOAT32, RT_EDGE_FLOAT32, 0, -1, nullptr);
  const int32_t bad_dtype = rt_edge_corr4d(nullptr, nullptr, nullptr, nullptr, 1, 1, 1, 16, 4, 4, 3, 0, 0,
                                           RT_EDGE_FLOAT16, RT_EDGE_BFLOAT16, 0, -1, nullptr);
  if (bad_c != RT_EDGE_ERR_ARGUMENT || bad_dtype != RT_EDGE_ERR_DTYPE) {
    std::printf("FAIL argument checks: C=12 -> %d, mixed dtypes -> %d\n", bad_c, bad_dtype);
    ++failed;
  }
  std::printf("%d of %zu cases failed\n", failed, cases.size());
  return failed ? 1 : 0;
}
