// Node module hooks for face-api's `esm-nobundle` build, which imports tfjs's browser ESM files: they are
// mapped to tfjs's Node entry (the CPU backend, pure JS), and the WebGL and WebAssembly backends (absent
// in Node) to empty modules. A script registers them (module.register) before importing face-api.
export async function resolve(specifier, context, next) {
  if (/^@tensorflow\/tfjs-backend-(wasm|webgl)/.test(specifier)) {
    return { url: 'data:text/javascript,export {}', shortCircuit: true };
  }
  if (specifier === '@tensorflow/tfjs/dist/index.js') return next('@tensorflow/tfjs', context);
  return next(specifier, context);
}
