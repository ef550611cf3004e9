"""The live worker: receives frames (channel layer, stream readers), keeps only the newest per
session, analyses them with the model it holds, publishes results, and records them as an analysis.

    slots      newest-frame-wins slots (bounded: one frame per session, never a queue)
    streams    stream URL readers (OpenCV/FFmpeg) that reconnect with backoff
    recorder   one session's results -> observations, chunks (segments), the 10 s crowd shares
    service    the process: channel-layer loop, the analysing thread, session bookkeeping
"""
