import { defineConfig } from 'vite';

// The build goes into the Go embed package, so `go build` alone gives a
// server with the UI. `npm run dev` proxies the API to a local server.
export default defineConfig({
  esbuild: { jsx: 'automatic' },
  base: '/',
  build: {
    outDir: '../internal/webui/static',
    emptyOutDir: true,
    target: 'es2020',
    chunkSizeWarningLimit: 700,
    rollupOptions: {
      output: {
        manualChunks(id) {
          if (id.includes('node_modules/echarts') || id.includes('node_modules/zrender')) return 'echarts';
          if (id.includes('node_modules/react') || id.includes('node_modules/scheduler')) return 'react';
        },
      },
    },
  },
  server: {
    proxy: { '/api': process.env.OSPREY_URL || 'http://127.0.0.1:8800', '/healthz': process.env.OSPREY_URL || 'http://127.0.0.1:8800' },
  },
});
