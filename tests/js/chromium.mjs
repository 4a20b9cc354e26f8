// Headless Chromium for the page tests: the system's /usr/bin/chromium (or $CHROMIUM) driven by playwright-core,
// WebGPU on SwiftShader, with nothing that reaches the network. `extraArgs` adds flags (the fake camera).
import { chromium } from 'playwright-core';

export function launchChromium(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu-sandbox', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-quic', '--enable-unsafe-webgpu',
      '--use-webgpu-adapter=swiftshader', ...extraArgs],
  });
}
