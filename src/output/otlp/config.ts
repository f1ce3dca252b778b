// Where and how --otlp sends calls: the endpoint from the flag or the
// standard OTEL_EXPORTER_OTLP_ENDPOINT, the protocol from
// OTEL_EXPORTER_OTLP_PROTOCOL. Plain data; nothing is opened here.
//
// The endpoint is the collector's base URL (as OTEL_EXPORTER_OTLP_ENDPOINT
// is): /v1/traces or /v1/logs is added to it. Headers
// (OTEL_EXPORTER_OTLP_HEADERS) and the request timeout
// (OTEL_EXPORTER_OTLP_TIMEOUT) are read by the exporters themselves.

import { UsageError } from '../../core/index.js';

export type OtlpProtocol = 'http/protobuf' | 'http/json';

export interface OtlpConfig {
  /** Base URL without a trailing slash, e.g. http://localhost:4318. */
  endpoint: string;
  protocol: OtlpProtocol;
}

/** The OTLP/HTTP port of a collector on this machine, the specification's default. */
export const DEFAULT_OTLP_ENDPOINT = 'http://localhost:4318';

/** Whether a --otlp value is a URL weaver can send to; commander's parser says why not. */
export function otlpEndpointProblem(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `--otlp takes the collector's URL, such as http://localhost:4318, not "${value}" (a program to trace goes before --otlp or after --)`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `--otlp sends over HTTP: give an http:// or https:// URL, not "${value}"`;
  }
  return null;
}

/**
 * The endpoint and protocol for `--otlp [endpoint]`: the flag's URL, else
 * OTEL_EXPORTER_OTLP_ENDPOINT, else http://localhost:4318.
 */
export function resolveOtlpConfig(flagEndpoint: string | true, env: NodeJS.ProcessEnv = process.env): OtlpConfig {
  const fromEnv = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  const endpoint = typeof flagEndpoint === 'string' ? flagEndpoint : fromEnv || DEFAULT_OTLP_ENDPOINT;
  const problem = otlpEndpointProblem(endpoint);
  if (problem) {
    throw new UsageError(typeof flagEndpoint === 'string' ? problem : `OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL, not "${endpoint}"`);
  }
  return { endpoint: endpoint.replace(/\/+$/, ''), protocol: resolveProtocol(env) };
}

function resolveProtocol(env: NodeJS.ProcessEnv): OtlpProtocol {
  const name = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL || 'http/protobuf').trim();
  if (name === 'http/protobuf' || name === 'http/json') return name;
  if (name === 'grpc') {
    throw new UsageError('weaver sends OTLP over HTTP, not gRPC', {
      hint: "unset OTEL_EXPORTER_OTLP_PROTOCOL (or set it to http/protobuf) and point --otlp at the collector's OTLP/HTTP port, usually 4318",
    });
  }
  throw new UsageError(`OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or http/json, not "${name}"`);
}

/** The URL one signal goes to. */
export function signalUrl(config: OtlpConfig, signal: 'traces' | 'logs'): string {
  return `${config.endpoint}/v1/${signal}`;
}
