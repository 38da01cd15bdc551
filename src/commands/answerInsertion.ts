/**
 * What "Insert" in the side-by-side view writes into the editor the question came from. VS Code-free.
 * An answer to a selection goes on lines of its own after it, a blank line between; an answer to a
 * typed question goes in at the cursor as it is.
 */
export function insertionText(answer: string, afterSelection: boolean, atLineStart: boolean): string {
  const text = answer.replace(/\s+$/, '');
  if (!afterSelection) return text;
  return atLineStart ? `\n${text}\n` : `\n\n${text}`;
}

/** A place in a document by line and character (VS Code's Position, without the module). */
export interface TextPlace {
  line: number;
  character: number;
}

/** An edit as VS Code reports it: the range it replaced (in the document before it) and the new text. */
export interface TextEdit {
  start: TextPlace;
  end: TextPlace;
  text: string;
}

const isBefore = (a: TextPlace, b: TextPlace) => a.line < b.line || (a.line === b.line && a.character < b.character);

/**
 * Where `place` is after `edit`, so that an answer still goes after its question when the user edits
 * the file while it is generated. An edit after the place leaves it; one before it shifts it by the
 * lines and characters it adds or removes; one around it, or text typed exactly there, puts it at
 * the end of the new text.
 */
export function placeAfterEdit(place: TextPlace, edit: TextEdit): TextPlace {
  if (isBefore(place, edit.start)) return place;
  const lines = edit.text.split(/\r\n|\r|\n/);
  const last = lines[lines.length - 1];
  const newEnd = lines.length === 1 ? { line: edit.start.line, character: edit.start.character + last.length } : { line: edit.start.line + lines.length - 1, character: last.length };
  if (isBefore(place, edit.end)) return newEnd;
  if (place.line === edit.end.line) return { line: newEnd.line, character: newEnd.character + place.character - edit.end.character };
  return { line: place.line + newEnd.line - edit.end.line, character: place.character };
}
