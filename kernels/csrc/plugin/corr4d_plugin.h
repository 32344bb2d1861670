// TensorRT 10 plugin (IPluginV3) for the ONNX node rt_edge::Corr4D written by `python -m export onnx
// --corr4d-plugin`: inputs fmap (B, T, C, H, W), coords (B, T, N, 2), query_feats (B, N, K, K, C); attribute
// radius (K = 2 * radius + 1); output (B, T, N, K^4) in fmap's type. It runs the same kernel as the PyTorch op.
//
// Registered as name "Corr4D", version "1", namespace "rt_edge" (the ONNX node carries plugin_namespace="rt_edge").
// Load the library with IPluginRegistry::loadLibrary (`python -m export trt --plugin LIB`, trtexec
// --dynamicPlugins=LIB): it exports getCreators() and setLoggerFinder().
#ifndef RT_EDGE_CORR4D_PLUGIN_H
#define RT_EDGE_CORR4D_PLUGIN_H

#include <NvInferRuntime.h>

#include <cstdint>
#include <string>

namespace rt_edge {

constexpr char const* kCorr4dPluginName = "Corr4D";
constexpr char const* kCorr4dPluginVersion = "1";
constexpr char const* kCorr4dPluginNamespace = "rt_edge";

class Corr4dPlugin : public nvinfer1::IPluginV3,
                     public nvinfer1::IPluginV3OneCore,
                     public nvinfer1::IPluginV3OneBuild,
                     public nvinfer1::IPluginV3OneRuntime {
 public:
  explicit Corr4dPlugin(int32_t radius);
  Corr4dPlugin(Corr4dPlugin const& other);
  ~Corr4dPlugin() override = default;

  // IPluginV3
  nvinfer1::IPluginCapability* getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept override;
  nvinfer1::IPluginV3* clone() noexcept override;

  // IPluginV3OneCore
  char const* getPluginName() const noexcept override { return kCorr4dPluginName; }
  char const* getPluginVersion() const noexcept override { return kCorr4dPluginVersion; }
  char const* getPluginNamespace() const noexcept override { return kCorr4dPluginNamespace; }

  // IPluginV3OneBuild
  int32_t configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
                          nvinfer1::DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept override;
  int32_t getOutputDataTypes(nvinfer1::DataType* outputTypes, int32_t nbOutputs,
                             nvinfer1::DataType const* inputTypes, int32_t nbInputs) const noexcept override;
  int32_t getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs, nvinfer1::DimsExprs const* shapeInputs,
                          int32_t nbShapeInputs, nvinfer1::DimsExprs* outputs, int32_t nbOutputs,
                          nvinfer1::IExprBuilder& exprBuilder) noexcept override;
  bool supportsFormatCombination(int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut, int32_t nbInputs,
                                 int32_t nbOutputs) noexcept override;
  int32_t getNbOutputs() const noexcept override { return 1; }
  char const* getTimingCacheID() noexcept override { return mTimingId.c_str(); }

  // IPluginV3OneRuntime
  int32_t onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs, nvinfer1::PluginTensorDesc const* out,
                        int32_t nbOutputs) noexcept override;
  int32_t enqueue(nvinfer1::PluginTensorDesc const* inputDesc, nvinfer1::PluginTensorDesc const* outputDesc,
                  void const* const* inputs, void* const* outputs, void* workspace,
                  cudaStream_t stream) noexcept override;
  nvinfer1::IPluginV3* attachToContext(nvinfer1::IPluginResourceContext* context) noexcept override;
  nvinfer1::PluginFieldCollection const* getFieldsToSerialize() noexcept override;

 private:
  int32_t mRadius;
  std::string mTimingId;
  nvinfer1::PluginField mField;
  nvinfer1::PluginFieldCollection mFields;
};

class Corr4dPluginCreator : public nvinfer1::IPluginCreatorV3One {
 public:
  Corr4dPluginCreator();
  nvinfer1::IPluginV3* createPlugin(char const* name, nvinfer1::PluginFieldCollection const* fc,
                                    nvinfer1::TensorRTPhase phase) noexcept override;
  nvinfer1::PluginFieldCollection const* getFieldNames() noexcept override { return &mFields; }
  char const* getPluginName() const noexcept override { return kCorr4dPluginName; }
  char const* getPluginVersion() const noexcept override { return kCorr4dPluginVersion; }
  char const* getPluginNamespace() const noexcept override { return kCorr4dPluginNamespace; }

 private:
  nvinfer1::PluginField mField;
  nvinfer1::PluginFieldCollection mFields;
};

}  // namespace rt_edge

#endif  // RT_EDGE_CORR4D_PLUGIN_H
