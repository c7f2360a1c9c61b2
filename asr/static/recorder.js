// AudioWorklet processor for asr-serve's page: hands each block of microphone samples
// (channel 0, float32 at the AudioContext's rate) to the page, which encodes WAV on stop.
class RecorderProcessor extends AudioWorkletProcessor {
  process(inputs) {
    const input = inputs[0];
    if (input && input.length > 0) this.port.postMessage(input[0].slice(0));
    return true;
  }
}
registerProcessor("recorder", RecorderProcessor);
