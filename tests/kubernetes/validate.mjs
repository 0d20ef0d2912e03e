// Validates Kubernetes objects against the official OpenAPI schemas (kubernetes-models).
//   node validate.mjs FILE...   each FILE a JSON object or a JSON array of objects
// Prints one line per object; exits 1 when any object is invalid or of an unknown kind.
import { readFileSync } from "node:fs";

let failed = 0;
for (const file of process.argv.slice(2)) {
  const parsed = JSON.parse(readFileSync(file, "utf8"));
  for (const object of Array.isArray(parsed) ? parsed : [parsed]) {
    const what = `${file}: ${object.kind}/${object.metadata?.name ?? object.metadata?.generateName}`;
    try {
      const [group, version] = object.apiVersion.includes("/")
        ? object.apiVersion.split("/")
        : ["", object.apiVersion];
      const module = await import(`kubernetes-models/${group ? group + "/" : ""}${version}`);
      const Model = module[object.kind];
      if (!Model) throw new Error(`no model for ${object.apiVersion} ${object.kind}`);
      new Model(object).validate();
      console.log(`valid ${what}`);
    } catch (e) {
      failed++;
      console.log(`INVALID ${what}: ${e.message}`);
    }
  }
}
process.exit(failed ? 1 : 0);
