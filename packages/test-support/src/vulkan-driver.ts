/**
 * `pnpm test:conformance` points the Vulkan loader at Chromium's SwiftShader driver
 * (`VK_ICD_FILENAMES`) so that onnxruntime-node's WebGPU runs on a machine without a GPU; a
 * run that must use the GPU drops it again, and the loader then finds the machine's own
 * drivers. Only a SwiftShader path is dropped: a driver file set by hand for a GPU stays.
 */
export function dropSwiftShaderVulkanDriver(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const driver = env.VK_ICD_FILENAMES;
  if (driver === undefined || !/swiftshader/i.test(driver)) return undefined;
  // Deleting from process.env unsets the variable of the process itself (Node's env is the
  // real one outside worker threads), which is what onnxruntime's Vulkan loader reads.
  delete env.VK_ICD_FILENAMES;
  return driver;
}
