// TensorRT 10 IPluginV3 wrapping the corr4d kernel; see corr4d_plugin.h.
#include "corr4d_plugin.h"

#include "corr4d.h"

#include <cstring>
#include <mutex>
#include <new>

using nvinfer1::DataType;
using nvinfer1::PluginFieldType;
using nvinfer1::TensorFormat;

namespace rt_edge {
namespace {

constexpr int32_t kInputs = 3;  // fmap, coords, query_feats
constexpr int32_t kDefaultRadius = 3;

std::mutex gLoggerMutex;
nvinfer1::ILoggerFinder* gLoggerFinder = nullptr;

void logError(char const* msg) noexcept {
  std::lock_guard<std::mutex> lock(gLoggerMutex);
  nvinfer1::ILogger* logger = gLoggerFinder ? gLoggerFinder->findLogger() : nullptr;
  if (logger) logger->log(nvinfer1::ILogger::Severity::kERROR, msg);
}

bool isFeatureType(DataType t) { return t == DataType::kFLOAT || t == DataType::kHALF || t == DataType::kBF16; }

int32_t kernelType(DataType t) {
  return t == DataType::kFLOAT ? RT_EDGE_FLOAT32 : t == DataType::kHALF ? RT_EDGE_FLOAT16 : RT_EDGE_BFLOAT16;
}

}  // namespace

// ------------------------------------------------------------------------------------------------ plugin
Corr4dPlugin::Corr4dPlugin(int32_t radius)
    : mRadius(radius), mTimingId("rt_edge::Corr4D:r" + std::to_string(radius)) {
  mField = nvinfer1::PluginField("radius", &mRadius, PluginFieldType::kINT32, 1);
  mFields.nbFields = 1;
  mFields.fields = &mField;
}

Corr4dPlugin::Corr4dPlugin(Corr4dPlugin const& other) : Corr4dPlugin(other.mRadius) {}

nvinfer1::IPluginCapability* Corr4dPlugin::getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept {
  switch (type) {
    case nvinfer1::PluginCapabilityType::kCORE: return static_cast<nvinfer1::IPluginV3OneCore*>(this);
    case nvinfer1::PluginCapabilityType::kBUILD: return static_cast<nvinfer1::IPluginV3OneBuild*>(this);
    case nvinfer1::PluginCapabilityType::kRUNTIME: return static_cast<nvinfer1::IPluginV3OneRuntime*>(this);
  }
  return nullptr;
}

nvinfer1::IPluginV3* Corr4dPlugin::clone() noexcept { return new (std::nothrow) Corr4dPlugin(*this); }

int32_t Corr4dPlugin::configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
                                      nvinfer1::DynamicPluginTensorDesc const* /*out*/, int32_t nbOutputs) noexcept {
  if (nbInputs != kInputs || nbOutputs != 1) return -1;
  auto const& f = in[0].desc.dims;
  auto const& c = in[1].desc.dims;
  auto const& q = in[2].desc.dims;
  if (f.nbDims != 5 || c.nbDims != 4 || q.nbDims != 5) {
    logError("rt_edge::Corr4D: expected fmap (B,T,C,H,W), coords (B,T,N,2), query_feats (B,N,K,K,C)");
    return -1;
  }
  int64_t const K = 2 * mRadius + 1;
  if ((q.d[2] >= 0 && q.d[2] != K) || (q.d[3] >= 0 && q.d[3] != K) || (c.d[3] >= 0 && c.d[3] != 2) ||
      (f.d[2] >= 0 && f.d[2] % 8 != 0)) {
    logError("rt_edge::Corr4D: query_feats must be (B,N,2r+1,2r+1,C), coords (...,2), C a multiple of 8");
    return -1;
  }
  return 0;
}

int32_t Corr4dPlugin::getOutputDataTypes(DataType* outputTypes, int32_t nbOutputs, DataType const* inputTypes,
                                         int32_t nbInputs) const noexcept {
  if (nbOutputs != 1 || nbInputs != kInputs) return -1;
  outputTypes[0] = inputTypes[0];
  return 0;
}

int32_t Corr4dPlugin::getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs,
                                      nvinfer1::DimsExprs const* /*shapeInputs*/, int32_t /*nbShapeInputs*/,
                                      nvinfer1::DimsExprs* outputs, int32_t nbOutputs,
                                      nvinfer1::IExprBuilder& exprBuilder) noexcept {
  if (nbInputs != kInputs || nbOutputs != 1 || inputs[0].nbDims != 5 || inputs[1].nbDims != 4) return -1;
  int64_t const K = 2 * mRadius + 1;
  outputs[0].nbDims = 4;
  outputs[0].d[0] = inputs[0].d[0];  // B
  outputs[0].d[1] = inputs[0].d[1];  // T
  outputs[0].d[2] = inputs[1].d[2];  // N
  outputs[0].d[3] = exprBuilder.constant(K * K * K * K);
  return 0;
}

bool Corr4dPlugin::supportsFormatCombination(int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut,
                                             int32_t nbInputs, int32_t nbOutputs) noexcept {
  if (nbInputs != kInputs || nbOutputs != 1 || pos < 0 || pos > kInputs) return false;
  auto const& d = inOut[pos].desc;
  if (d.format != TensorFormat::kLINEAR) return false;
  switch (pos) {
    case 0: return isFeatureType(d.type);                                             // fmap
    case 1: return d.type == DataType::kFLOAT || d.type == inOut[0].desc.type;        // coords
    default: return d.type == inOut[0].desc.type;                                     // query_feats, out
  }
}

int32_t Corr4dPlugin::onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs,
                                    nvinfer1::PluginTensorDesc const* /*out*/, int32_t nbOutputs) noexcept {
  if (nbInputs != kInputs || nbOutputs != 1) return -1;
  int64_t const K = 2 * mRadius + 1;
  auto const& f = in[0].dims;
  auto const& c = in[1].dims;
  auto const& q = in[2].dims;
  bool const ok = f.nbDims == 5 && c.nbDims == 4 && q.nbDims == 5 && c.d[0] == f.d[0] && c.d[1] == f.d[1] &&
                  c.d[3] == 2 && q.d[0] == f.d[0] && q.d[1] == c.d[2] && q.d[2] == K && q.d[3] == K &&
                  q.d[4] == f.d[2] && f.d[2] % 8 == 0;
  if (!ok) logError("rt_edge::Corr4D: inconsistent input shapes");
  return ok ? 0 : -1;
}

int32_t Corr4dPlugin::enqueue(nvinfer1::PluginTensorDesc const* inputDesc,
                              nvinfer1::PluginTensorDesc const* /*outputDesc*/, void const* const* inputs,
                              void* const* outputs, void* /*workspace*/, cudaStream_t stream) noexcept {
  auto const& f = inputDesc[0].dims;  // B T C H W
  auto const& c = inputDesc[1].dims;  // B T N 2
  int64_t const K = 2 * mRadius + 1;
  int64_t const N = c.d[2], C = f.d[2];
  int32_t const status = rt_edge_corr4d(
      inputs[0], inputs[1], inputs[2], outputs[0], (int32_t)f.d[0], (int32_t)f.d[1], (int32_t)N, (int32_t)C,
      (int32_t)f.d[3], (int32_t)f.d[4], mRadius, N * K * K * C, K * K * C, kernelType(inputDesc[0].type),
      kernelType(inputDesc[1].type), RT_EDGE_CORR4D_AUTO, -1, stream);
  if (status != RT_EDGE_OK) {
    std::string msg = std::string("rt_edge::Corr4D: ") + rt_edge_corr4d_status_string(status);
    if (status == RT_EDGE_ERR_CUDA) msg += std::string(": ") + rt_edge_corr4d_last_cuda_error();
    logError(msg.c_str());
  }
  return status;
}

nvinfer1::IPluginV3* Corr4dPlugin::attachToContext(nvinfer1::IPluginResourceContext* /*context*/) noexcept {
  return clone();
}

nvinfer1::PluginFieldCollection const* Corr4dPlugin::getFieldsToSerialize() noexcept { return &mFields; }

// ------------------------------------------------------------------------------------------------ creator
Corr4dPluginCreator::Corr4dPluginCreator() {
  mField = nvinfer1::PluginField("radius", nullptr, PluginFieldType::kINT32, 1);
  mFields.nbFields = 1;
  mFields.fields = &mField;
}

nvinfer1::IPluginV3* Corr4dPluginCreator::createPlugin(char const* /*name*/, nvinfer1::PluginFieldCollection const* fc,
                                                       nvinfer1::TensorRTPhase /*phase*/) noexcept {
  int32_t radius = kDefaultRadius;
  for (int32_t i = 0; fc && i < fc->nbFields; ++i) {
    auto const& field = fc->fields[i];
    if (field.name && std::strcmp(field.name, "radius") == 0) {
      if (field.type != PluginFieldType::kINT32 || field.length != 1 || !field.data) {
        logError("rt_edge::Corr4D: attribute radius must be one int32");
        return nullptr;
      }
      radius = *static_cast<int32_t const*>(field.data);
    }
  }
  if (radius < 0 || radius > 15) {
    logError("rt_edge::Corr4D: radius must be in 0..15");
    return nullptr;
  }
  return new (std::nothrow) Corr4dPlugin(radius);
}

}  // namespace rt_edge

// ------------------------------------------------------------------------------------------------ library entry points
extern "C" __attribute__((visibility("default"))) nvinfer1::IPluginCreatorInterface* const* getCreators(
    int32_t& nbCreators) {
  static rt_edge::Corr4dPluginCreator creator;
  static nvinfer1::IPluginCreatorInterface* const creators[] = {&creator};
  nbCreators = 1;
  return creators;
}

extern "C" __attribute__((visibility("default"))) void setLoggerFinder(nvinfer1::ILoggerFinder* finder) {
  std::lock_guard<std::mutex> lock(rt_edge::gLoggerMutex);
  if (!rt_edge::gLoggerFinder) rt_edge::gLoggerFinder = finder;
}
