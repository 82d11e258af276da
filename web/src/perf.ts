// Performance marks the browser tests read: the resource board's first
// render (data fetched → painted) and each live update.
let boardFirstDone = false;
let seq = 0;

export function boardFetchStart(): string {
  const name = `osprey:board:fetch:${++seq}`;
  performance.mark(name);
  return name;
}

export function boardData(fetchMark: string): string {
  const name = fetchMark.replace(':fetch:', ':data:');
  performance.mark(name);
  try { performance.measure(boardFirstDone ? 'osprey:board:update-fetch' : 'osprey:board:first-fetch', fetchMark, name); } catch { /* marks cleared */ }
  return name;
}

export function boardPainted(dataMark: string) {
  const name = dataMark.replace(':data:', ':painted:');
  performance.mark(name);
  try { performance.measure(boardFirstDone ? 'osprey:board:update' : 'osprey:board:first-render', dataMark, name); } catch { /* marks cleared */ }
  boardFirstDone = true;
  // keep the timeline bounded on a board left open for days
  if (seq % 200 === 0) { performance.clearMarks(); }
}

export function resetBoardPerf() { boardFirstDone = false; }
