/**
 * Lens, camera body and film stock notes, as the prompt writes them. The camera bodies and film
 * stocks cover the cinematographer's vocabulary (CAMERAS, FILM_LOOKS in src/prompt/vocabulary.ts)
 * and the usual others; a film stock is never mistaken for a camera ("Fujifilm GFX 100S" is a
 * camera, "Fujifilm Pro 400H" a film).
 */
export interface CameraReading {
  /** Focal lengths with their kind, lens types, apertures, focus notes: "24mm wide-angle lens", "f/2.8". */
  lens: string[];
  camera: string | null;
  film: string | null;
}

const LENS = [
  /\b\d{2,3}(?:-\d{2,3})?\s?mm(?:\s+(?:ultra-wide|wide-angle|wide|anamorphic|macro|portrait|telephoto|prime|tilt-shift|fisheye|cine|zoom))*(?:\s+lens)?\b(?!\s+film)/gi,
  /\b(?:macro|telephoto|wide-angle|ultra-wide|anamorphic|tilt-shift|fisheye|prime|zoom|portrait)\s+lens\b/gi,
  /\b[fT]\/\s?\d+(?:\.\d+)?\b/g,
  /\b(?:shallow depth of field|deep focus|shallow focus|rack focus|bokeh)\b/gi,
];
const CAMERA =
  /\b(?:ARRI\s+Alexa(?:\s+(?:Mini(?:\s+LF)?|LF|35|65|XT|SXT))?|ARRI\s+\w+|Alexa\s+(?:Mini(?:\s+LF)?|LF|35|65)|Sony\s+(?:Venice(?:\s+2)?|A7\w*(?:\s+[IVX]+\b)?|A1|FX\d+)|RED\s+(?:V-Raptor|Komodo|Monstro|Dragon|Gemini)|Canon\s+EOS\s+[\w-]+|Canon\s+C\d+|Nikon\s+Z\s?\d+\w*|Nikon\s+D\d+\w*|Fujifilm\s+(?:GFX\s*\d+\w*|X-[\w\d]+)|Hasselblad(?:\s+[A-Z0-9][\w-]*)?|Leica\s+(?:M\d+\w*|SL\d*|Q\d*|[A-Z0-9][\w-]*)|Phase One(?:\s+\w+)?|Blackmagic(?:\s+(?:Pocket|URSA)[\w\s]*?\b)?|Pentax 67|Mamiya\s*\w*|IMAX)(?=[\s,.;]|$)/;
const FILM =
  /\b(?:Kodak\s+(?:Portra|Ektar|Vision3|Gold|Tri-X|Ektachrome|Ultramax|Colorplus)(?:\s+\d+\w*)?|Portra\s*\d*|Ektar\s*\d*|Ektachrome|Fujifilm\s+(?:Pro\s+400H|Eterna(?:\s+\d+\w*)?|Velvia(?:\s+\d+)?|Superia(?:\s+\d+)?|Provia(?:\s+\d+)?|Acros(?:\s+\d+)?)|Fuji\s+(?:Velvia|Superia|Provia|Pro 400H|Eterna)(?:\s+\d+\w*)?|Cine[Ss]till\s*\d*\w*|Ilford\s+\w+(?:\s+\d+)?|(?:35|16|65|70)\s?mm film)(?=[\s,.;]|$)/i;

export function readCamera(prompt: string): CameraReading {
  const hits: Array<{ at: number; end: number; text: string }> = [];
  for (const re of LENS)
    for (const m of prompt.matchAll(re)) {
      const at = m.index;
      const end = at + m[0].length;
      if (hits.some((h) => at < h.end && end > h.at)) continue; // "100mm macro lens" is one note, not two
      hits.push({ at, end, text: m[0].replace(/\s+/g, ' ').trim() });
    }
  const lens = [...new Set(hits.sort((x, y) => x.at - y.at).map((h) => h.text))].slice(0, 6);
  const tidy = (s: string | undefined) => s?.replace(/\s+/g, ' ').trim() ?? null;
  return { lens, camera: tidy(CAMERA.exec(prompt)?.[0]), film: tidy(FILM.exec(prompt)?.[0]) };
}
