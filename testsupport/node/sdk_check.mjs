// Drives the official OpenAI Node SDK against a live hub, the way OpenAI's guides do, and prints what it saw
// as one JSON line for generations/tests/test_node_sdk.py to check.
//
//   GIH_BASE_URL=http://127.0.0.1:PORT/v1 GIH_API_KEY=gih_live_... node sdk_check.mjs SCENARIO [PNG_PATH...]
import { readFile } from "node:fs/promises";
import OpenAI, { toFile } from "openai";

const client = new OpenAI({ baseURL: process.env.GIH_BASE_URL, apiKey: process.env.GIH_API_KEY });
const [scenario, ...paths] = process.argv.slice(2);

// As in OpenAI's guide: `Buffer.from(result.data[0].b64_json, "base64")`; sent back in base64 for the checks.
const decoded = (b64) => Buffer.from(b64, "base64").toString("base64");

function summary(result) {
  return {
    created: result.created,
    images: result.data.map((image) => decoded(image.b64_json)),
    urls: result.data.map((image) => image.url ?? null),
    size: result.size,
    quality: result.quality,
    background: result.background,
    output_format: result.output_format,
    usage: result.usage,
  };
}

async function images(names) {
  return Promise.all(names.map(async (path, index) => toFile(await readFile(path), `input-${index}.png`, { type: "image/png" })));
}

const scenarios = {
  async generate() {
    return summary(await client.images.generate({ model: "gpt-image-2", prompt: "A red bicycle", n: 2, size: "1024x1536", quality: "low" }));
  },
  async edit_one() {
    const [image] = await images(paths);
    return summary(await client.images.edit({ model: "gpt-image-2", image, prompt: "Add a hat", quality: "low" }));
  },
  async edit_two() {
    return summary(
      await client.images.edit({ model: "gpt-image-2", image: await images(paths), prompt: "Both in one scene", size: "1536x1024", quality: "low" }),
    );
  },
  async webp_transparent() {
    return summary(
      await client.images.generate({ model: "gpt-image-2", prompt: "A sticker of a cat", quality: "low", output_format: "webp", background: "transparent" }),
    );
  },
  async stream() {
    const stream = await client.images.generate({ model: "gpt-image-2", prompt: "A lighthouse", quality: "low", stream: true, partial_images: 2 });
    const events = [];
    for await (const event of stream) {
      events.push({ type: event.type, index: event.partial_image_index ?? null, image: decoded(event.b64_json), usage: event.usage ?? null });
    }
    return { events };
  },
  async stream_edit() {
    const [image] = await images(paths);
    const stream = await client.images.edit({ model: "gpt-image-2", image, prompt: "Make it night", quality: "low", stream: true, partial_images: 1 });
    const events = [];
    for await (const event of stream) events.push({ type: event.type, index: event.partial_image_index ?? null });
    return { events };
  },
  async models() {
    const models = [];
    for await (const model of client.models.list()) models.push(model);
    return { models, one: await client.models.retrieve("gpt-image-2") };
  },
  async invalid_parameter() {
    return await client.images.generate({ model: "gpt-image-2", prompt: "x", size: "10x10" });
  },
  async generate_small() {
    return summary(await client.images.generate({ model: "gpt-image-2", prompt: "A small test", quality: "low" }));
  },
};

try {
  const result = await scenarios[scenario]();
  console.log(JSON.stringify({ ok: true, result }));
} catch (error) {
  if (!(error instanceof OpenAI.APIError)) throw error;
  console.log(
    JSON.stringify({
      ok: false,
      error: { class: error.constructor.name, status: error.status ?? null, type: error.type ?? null, code: error.code ?? null, param: error.param ?? null, message: error.message },
    }),
  );
}
