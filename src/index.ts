/**
 * wirelog as a library: the record types, the stages, the sinks and the capture pipeline.
 * The `wirelog` command (src/cli/main.ts) is built from these same pieces.
 */
export * from './records.js';

// the error model: every thrown error is a WirelogError with a code from WL_ERR (docs/errors.md)
export { WirelogError, WL_ERR, isWlErrorCode, type WlErrorCode, type WlErrorArea, type WlErrorInfo } from './errors.js';

// source / decode
export { readCaptureFile, readCaptureStream, type CaptureFileSummary, type CaptureReadOptions } from './decode/capture-file.js';
export { decodeFrame, newDecodeStats, type DecodeStats } from './decode/frame.js';
export { startLiveCapture, type LiveCapture, type LiveCaptureHandlers, type LiveCaptureOptions } from './source/live.js';

// track + correlate
export { HttpTracker, type HttpTrackerOptions, type TrackerStats } from './correlate/http-tracker.js';
export { L4Tracker, type L4TrackerOptions, type L4TrackerStats } from './correlate/l4.js';

// sinks
export { TextSink, TextFormatter, responseKind } from './sinks/text.js';
export { JsonlSink } from './sinks/jsonl.js';
export { L4JsonlSink, serializeL4, L4_RECORD_FIELDS } from './sinks/l4-jsonl.js';
export { toHttpRecord, serializeTransaction, transactionTsUs, HTTP_RECORD_FIELDS, type HttpRecord } from './sinks/schema.js';
export {
  StdoutWriter, DirWriter, createLogWriter, logFileName, LogDirError,
  type LineSink, type LogWriter, type WriterFailure, type DirWriterOptions,
} from './sinks/log-writer.js';
export { LocalTimeFormatter, IsoTimeFormatter, systemOffset, fixedOffset, type OffsetFn } from './sinks/local-time.js';

// pipeline
export {
  runPipeline, createHttpSink, createL4Sink, hostAddresses, defaultSensorPath, statsLine, summaryLine,
  type PipelineOptions, type PipelineResult, type FileSource, type LiveSource, type StopReason,
} from './pipelines/capture.js';

// configuration (for embedding the capture command's settings)
export { resolveCapture, parseConfigText, CAPTURE_OPTIONS, type CaptureSettings, type CaptureCommand } from './cli/config.js';
export { UsageError } from './cli/args.js';
