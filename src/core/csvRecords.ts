/** One CSV record and the (1-based) line of the file it starts on. */
export interface CsvRecord {
  line: number;
  fields: string[];
}

/**
 * Splits CSV text (RFC 4180: `,` separators, `"` quoting with `""` escapes, quoted fields may
 * span lines; CRLF or LF) into records. A leading byte-order mark is dropped; blank lines are
 * skipped. An unterminated quote is reported with the line it opened on.
 */
export function csvRecords(text: string): { records: CsvRecord[]; error?: { line: number; message: string } } {
  const records: CsvRecord[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  const n = text.length;
  while (i < n) {
    const startLine = line;
    const fields: string[] = [];
    let field = '';
    let endOfRecord = false;
    while (!endOfRecord) {
      if (text[i] === '"') {
        const openLine = line;
        i++;
        for (;;) {
          if (i >= n) return { records, error: { line: openLine, message: 'a quoted field is not closed' } };
          const c = text[i];
          if (c === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === '\n') line++;
          field += c;
          i++;
        }
      }
      // Unquoted part (or what follows a closing quote) up to the next separator.
      while (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') field += text[i++];
      fields.push(field);
      field = '';
      if (i >= n) endOfRecord = true;
      else if (text[i] === ',') i++;
      else {
        if (text[i] === '\r') i++;
        if (text[i] === '\n') i++;
        line++;
        endOfRecord = true;
      }
    }
    if (fields.length === 1 && fields[0].trim() === '') continue;
    records.push({ line: startLine, fields });
  }
  return { records };
}
