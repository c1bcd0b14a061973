// Shared by both live pages (inlined by live-page.ts): reading a server-sent event stream
// from fetch(), as the transcription (stream=true) and speech (stream_format=sse) routes send it.
window.voiceStackLive = {
  /** Calls onEvent with each event's parsed JSON data, in order, until the stream ends. */
  async readServerSentEvents(response, onEvent) {
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let rest = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      rest += value;
      const events = rest.split('\n\n');
      rest = events.pop();
      for (const block of events) {
        const data = block
          .split('\n')
          .filter((l) => l.startsWith('data: '))
          .map((l) => l.slice(6))
          .join('\n');
        if (data !== '') onEvent(JSON.parse(data));
      }
    }
  },
};
