import { build } from 'esbuild';
const r = await build({ entryPoints: ['functions/api.ts'], bundle: true, platform: 'node', format: 'esm', target: 'node24', minify: true, keepNames: true, mainFields: ['module','main'], write: false, outfile: '/tmp/15b-out/x.mjs', metafile: true, logLevel: 'error' });
const out = Object.values(r.metafile.outputs).find(o => o.entryPoint);
const rows = Object.entries(out.inputs).filter(([f]) => f.includes(process.argv[2])).sort((a,b)=>b[1].bytesInOutput-a[1].bytesInOutput).slice(0,30);
for (const [f,i] of rows) console.log(i.bytesInOutput, f);
