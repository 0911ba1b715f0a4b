// build.mjs copies the console's third-party browser assets from node_modules (installed
// by `npm ci`, pinned in package-lock.json) into static/vendor, which the Go binary embeds:
// Apache ECharts as an ES module, its licence and notice, and a GeoJSON world map made
// from Natural Earth's countries (world-atlas TopoJSON, converted with topojson-client).
// Run it with `make assets` (make build, make test and make demo do).
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { feature } from "topojson-client";

const here = dirname(fileURLToPath(import.meta.url));
const modules = join(here, "node_modules");
const out = join(here, "static", "vendor");
const tmp = out + ".tmp";

rmSync(tmp, { recursive: true, force: true });
mkdirSync(tmp, { recursive: true });

copyFileSync(join(modules, "echarts", "dist", "echarts.esm.min.mjs"), join(tmp, "echarts.js"));
copyFileSync(join(modules, "echarts", "LICENSE"), join(tmp, "LICENSE-echarts.txt"));
copyFileSync(join(modules, "echarts", "NOTICE"), join(tmp, "NOTICE-echarts.txt"));
copyFileSync(join(modules, "world-atlas", "LICENSE"), join(tmp, "LICENSE-world-atlas.txt"));

// The 1:110m countries, without Antarctica, which holds no CloudTrail source address and
// would take a fifth of the map, and without the few polygons that cross the antimeridian
// (parts of Fiji and of Russia's far east), which a flat map draws as lines across it.
const topo = JSON.parse(readFileSync(join(modules, "world-atlas", "countries-110m.json"), "utf8"));
const world = feature(topo, topo.objects.countries);
const crosses = polygon => polygon[0].some((p, i) => i > 0 && Math.abs(p[0] - polygon[0][i - 1][0]) > 180);
const flat = g => {
  const polygons = (g.type === "Polygon" ? [g.coordinates] : g.coordinates).filter(p => !crosses(p));
  return polygons.length === 1 ? { type: "Polygon", coordinates: polygons[0] } : { type: "MultiPolygon", coordinates: polygons };
};
world.features = world.features
  .filter(f => f.properties.name !== "Antarctica")
  .map(f => ({ type: "Feature", id: f.id, properties: { name: f.properties.name }, geometry: flat(f.geometry) }));
writeFileSync(join(tmp, "world.json"), JSON.stringify(world));

// The binary checks for this file to know the assets were built.
const versions = Object.fromEntries(["echarts", "topojson-client", "world-atlas"].map(p =>
  [p, JSON.parse(readFileSync(join(modules, p, "package.json"), "utf8")).version]));
writeFileSync(join(tmp, "manifest.json"), JSON.stringify({ versions }, null, 1) + "\n");

rmSync(out, { recursive: true, force: true });
renameSync(tmp, out);
console.log(`build.mjs: ${out}: echarts ${versions.echarts}, world-atlas ${versions["world-atlas"]}`);
