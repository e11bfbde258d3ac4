import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(fileURLToPath(import.meta.url));

/** @type {import('next').NextConfig} */
const nextConfig = {
  // The image runs .next/standalone/server.js; `next start` keeps working locally.
  output: 'standalone',
  reactStrictMode: true,
  poweredByHeader: false,
  // The repository root holds other projects; pin tracing and Turbopack to this folder.
  outputFileTracingRoot: root,
  turbopack: { root },
};

export default nextConfig;
