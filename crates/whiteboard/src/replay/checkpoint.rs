//! A board's whole state as data, so a replay can resume from it instead of from the first
//! operation: every page (id, background, elements bottom to top), the current page, and every
//! user's undo and redo stacks.
//!
//! The text is a compact binary encoding in base64 (both stores keep it in a text column):
//! lengths and indices as LEB128 varints, coordinates and widths as little-endian `f32`,
//! colours as four bytes. Of the board `replay_bench` builds from 1,000,000 operations the
//! former JSON text was 153.6 MiB, read back in about 0.7 s; this one is 41.6 MiB, read back in
//! about 0.35 s, mostly allocating the elements (bench/README.md). The encoding is written
//! here rather than derived with serde for a compact format (postcard, bincode): the element
//! types' serde shape is the room log's JSON wire form (internally tagged operations, flattened
//! fields, fields skipped when empty), which formats that do not describe themselves cannot
//! read back. Each element version is written once and referred to by its index, however
//! many pages and undo stacks hold it, so a checkpoint is about the size of the elements it
//! holds. History about deleted pages is left out: it can never act again; and history beyond
//! [`Board::undo_limit`] is not kept at all, so neither is what only it could restore.
//!
//! The elements a `clear` removed (the inverse a user's `undo` of it applies) are written
//! inline, as one block of their own, and read back as that block ([`EncodedElements`]): a
//! board resumed from a checkpoint checks them but builds them only when an `undo` puts them
//! back, and writes the block back verbatim. A push starting on a room whose teacher has just
//! cleared a page of 200,000 strokes thus reads the 20 visible ones, not the 200,000.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use super::encoding::{CheckpointError, EncodedElements, Read, Reader, Writer};
use super::{Board, Edit, Element, History, Page, Step};
use crate::op::{Background, ElementId, PageId};
use crate::sequence::Sequence;

/// The version of the checkpoint text [`Board::checkpoint_text`] writes; a store keeps it
/// beside the text and ignores checkpoints of another version.
pub const CHECKPOINT_FORMAT: u32 = 4;

/// The largest next page serial a checkpoint may hold, so the board read back can still create
/// more pages than any log holds operations without the serial overflowing.
const MAX_NEXT_SERIAL: u64 = u64::MAX / 2;

struct State {
    /// Every element version held anywhere; the rest refer to them by index.
    elements: Vec<Element>,
    pages: Vec<PageState>,
    /// Index into `pages`.
    current: usize,
    next_serial: u64,
    /// [`Board::undo_limit`].
    undo_limit: usize,
    /// By user id, ordered so equal boards give equal texts.
    histories: BTreeMap<String, HistoryState>,
}

struct PageState {
    id: PageId,
    background: Option<Background>,
    serial: u64,
    elements: Vec<usize>,
}

struct HistoryState {
    undo: Vec<EditState>,
    redo: Vec<EditState>,
}

struct EditState {
    page: PageId,
    serial: u64,
    steps: Vec<StepState>,
}

enum StepState {
    Remove(ElementId),
    Put(usize, usize),
    SetBackground(Option<Background>),
    PutAll(EncodedElements),
}

/// Numbers element versions by identity, first seen first.
#[derive(Default)]
struct Interner {
    index: HashMap<*const Element, usize>,
    elements: Vec<Element>,
}

impl Interner {
    fn intern(&mut self, element: &Arc<Element>) -> usize {
        *self.index.entry(Arc::as_ptr(element)).or_insert_with(|| {
            self.elements.push((**element).clone());
            self.elements.len() - 1
        })
    }
}

impl Board {
    /// The board as checkpoint text (format [`CHECKPOINT_FORMAT`]); equal boards give equal
    /// texts. [`Board::from_checkpoint_text`] reads it back.
    pub fn checkpoint_text(&self) -> String {
        let mut interner = Interner::default();
        let live: HashSet<(&PageId, u64)> = self.pages.iter().map(|p| (&p.id, p.serial)).collect();
        let pages = self
            .pages
            .iter()
            .map(|page| PageState {
                id: page.id.clone(),
                background: page.background.clone(),
                serial: page.serial,
                elements: page.elements().map(|e| interner.intern(e)).collect(),
            })
            .collect();
        let mut edits = |stack: &mut dyn Iterator<Item = &Edit>| -> Vec<EditState> {
            stack
                .filter(|edit| live.contains(&(&edit.page, edit.serial)))
                .map(|edit| EditState {
                    page: edit.page.clone(),
                    serial: edit.serial,
                    steps: {
                        // A `RemoveAll` is never history, only its inverse is.
                        let mut steps = Vec::with_capacity(edit.steps.len());
                        for step in &edit.steps {
                            steps.push(match step {
                                Step::Remove(id) => StepState::Remove(id.clone()),
                                Step::Put(at, element) => StepState::Put(*at, interner.intern(element)),
                                Step::SetBackground(bg) => StepState::SetBackground(bg.clone()),
                                Step::PutAll(elements) => StepState::PutAll(EncodedElements::encode(elements)),
                                Step::PutEncoded(elements) => StepState::PutAll(elements.clone()),
                                Step::RemoveAll => continue,
                            });
                        }
                        steps
                    },
                })
                .collect()
        };
        let histories = self
            .histories
            .iter()
            .collect::<BTreeMap<_, _>>()
            .into_iter()
            .map(|(user, history)| {
                (
                    user.clone(),
                    HistoryState { undo: edits(&mut history.undo.iter()), redo: edits(&mut history.redo.iter()) },
                )
            })
            .filter(|(_, h)| !h.undo.is_empty() || !h.redo.is_empty())
            .collect();
        let state = State {
            elements: interner.elements,
            pages,
            current: self.pages.index_of(self.current),
            next_serial: self.next_serial,
            undo_limit: self.undo_limit,
            histories,
        };
        let mut out = Writer::default();
        out.state(&state);
        BASE64.encode(out.0)
    }

    /// The board a [`Board::checkpoint_text`] text describes. A text that is not of
    /// [`CHECKPOINT_FORMAT`], or whose parts do not fit together, is an error, never a panic.
    pub fn from_checkpoint_text(text: &str) -> Result<Board, CheckpointError> {
        let bytes = BASE64.decode(text).map_err(|_| CheckpointError::Syntax)?;
        let mut input = Reader(&bytes);
        let state = input.state()?;
        if !input.0.is_empty() {
            return Err(CheckpointError::Syntax);
        }
        // Every page a board creates takes the next serial: one near the top of the range
        // would overflow (no replay gets there, one page per operation).
        if state.next_serial > MAX_NEXT_SERIAL {
            return Err(CheckpointError::Inconsistent("next page serial"));
        }
        let elements: Vec<Arc<Element>> = state.elements.into_iter().map(Arc::new).collect();
        let element = |i: usize| elements.get(i).cloned().ok_or(CheckpointError::Inconsistent("element index"));
        let mut pages = Sequence::default();
        let mut page_ids = HashMap::new();
        let mut serials = HashSet::new();
        for p in state.pages {
            if p.serial >= state.next_serial || !serials.insert(p.serial) {
                return Err(CheckpointError::Inconsistent("page serial"));
            }
            let mut page = Page::with_serial(p.id.clone(), p.serial);
            page.background = p.background;
            for i in p.elements {
                let element = element(i)?;
                if page.element(element.id()).is_some() {
                    return Err(CheckpointError::Inconsistent("an element id twice on a page"));
                }
                page.insert(usize::MAX, element);
            }
            let handle = pages.push(page);
            if page_ids.insert(p.id, handle).is_some() {
                return Err(CheckpointError::Inconsistent("a page id twice"));
            }
        }
        let current = pages.nth(state.current).ok_or(CheckpointError::Inconsistent("current page"))?;
        let edits = |stack: Vec<EditState>| -> Result<Vec<Edit>, CheckpointError> {
            stack
                .into_iter()
                .map(|edit| {
                    let steps = edit
                        .steps
                        .into_iter()
                        .map(|step| {
                            Ok(match step {
                                StepState::Remove(id) => Step::Remove(id),
                                StepState::Put(at, i) => Step::Put(at, element(i)?),
                                StepState::SetBackground(bg) => Step::SetBackground(bg),
                                StepState::PutAll(elements) => Step::PutEncoded(elements),
                            })
                        })
                        .collect::<Result<_, CheckpointError>>()?;
                    Ok(Edit { page: edit.page, serial: edit.serial, steps })
                })
                .collect()
        };
        let histories = state
            .histories
            .into_iter()
            .map(|(user, h)| Ok((user, History { undo: edits(h.undo)?.into(), redo: edits(h.redo)? })))
            .collect::<Result<_, CheckpointError>>()?;
        if state.undo_limit == 0 {
            return Err(CheckpointError::Inconsistent("undo limit"));
        }
        Ok(Board { pages, page_ids, current, histories, next_serial: state.next_serial, undo_limit: state.undo_limit })
    }
}

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// Step tags of the encoding.
const REMOVE: u8 = 0;
const PUT: u8 = 1;
const SET_BACKGROUND: u8 = 2;
const PUT_ALL: u8 = 3;

impl Writer {
    fn edits(&mut self, edits: &[EditState]) {
        self.len(edits.len());
        for edit in edits {
            self.str(edit.page.as_str());
            self.varint(edit.serial);
            self.len(edit.steps.len());
            for step in &edit.steps {
                match step {
                    StepState::Remove(id) => {
                        self.byte(REMOVE);
                        self.str(id.as_str());
                    }
                    StepState::Put(at, i) => {
                        self.byte(PUT);
                        self.len(*at);
                        self.len(*i);
                    }
                    StepState::SetBackground(bg) => {
                        self.byte(SET_BACKGROUND);
                        self.background(bg);
                    }
                    StepState::PutAll(elements) => {
                        self.byte(PUT_ALL);
                        self.encoded_elements(elements);
                    }
                }
            }
        }
    }

    fn state(&mut self, state: &State) {
        self.len(state.elements.len());
        for element in &state.elements {
            self.element(element);
        }
        self.len(state.pages.len());
        for page in &state.pages {
            self.str(page.id.as_str());
            self.background(&page.background);
            self.varint(page.serial);
            self.len(page.elements.len());
            for &i in &page.elements {
                self.len(i);
            }
        }
        self.len(state.current);
        self.varint(state.next_serial);
        self.len(state.undo_limit);
        self.len(state.histories.len());
        for (user, history) in &state.histories {
            self.str(user);
            self.edits(&history.undo);
            self.edits(&history.redo);
        }
    }
}

impl Reader<'_> {
    fn edits(&mut self) -> Read<Vec<EditState>> {
        let n = self.count(3)?;
        (0..n)
            .map(|_| {
                let page = PageId::new(self.string()?);
                let serial = self.varint()?;
                let steps = self.count(2)?;
                let steps = (0..steps)
                    .map(|_| {
                        Ok(match self.byte()? {
                            REMOVE => StepState::Remove(ElementId::new(self.string()?)),
                            PUT => StepState::Put(self.len()?, self.len()?),
                            SET_BACKGROUND => StepState::SetBackground(self.background()?),
                            PUT_ALL => StepState::PutAll(self.encoded_elements()?),
                            _ => return Err(CheckpointError::Syntax),
                        })
                    })
                    .collect::<Read<_>>()?;
                Ok(EditState { page, serial, steps })
            })
            .collect()
    }

    fn state(&mut self) -> Read<State> {
        let n = self.count(2)?;
        let elements = (0..n).map(|_| self.element()).collect::<Read<_>>()?;
        let n = self.count(3)?;
        let pages = (0..n)
            .map(|_| {
                let (id, background, serial) = (PageId::new(self.string()?), self.background()?, self.varint()?);
                let n = self.count(1)?;
                let elements = (0..n).map(|_| self.len()).collect::<Read<_>>()?;
                Ok(PageState { id, background, serial, elements })
            })
            .collect::<Read<_>>()?;
        let (current, next_serial, undo_limit) = (self.len()?, self.varint()?, self.len()?);
        let n = self.count(3)?;
        let mut histories = BTreeMap::new();
        for _ in 0..n {
            let user = self.string()?;
            let history = HistoryState { undo: self.edits()?, redo: self.edits()? };
            histories.insert(user, history);
        }
        Ok(State { elements, pages, current, next_serial, undo_limit, histories })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::color::Color;
    use crate::op::{LoggedOp, Op, OpKind, Point, Stroke, Tool};

    fn logged(seq: u64, kind: OpKind) -> LoggedOp {
        LoggedOp { seq, user_id: "teacher".into(), received_at_ms: 0, op: Op::new(kind) }
    }

    fn stroke(id: &str) -> OpKind {
        let points = vec![Point::new(0.1, 0.1), Point::new(0.2, 0.2)];
        OpKind::Stroke(Stroke {
            id: ElementId::new(id),
            points,
            color: Color::rgb(1, 2, 3),
            width: 0.01,
            tool: Tool::Pen,
        })
    }

    fn undo_of_the_clear(board: &Board) -> &Step {
        &board.histories["teacher"].undo.back().expect("the clear's undo").steps[0]
    }

    #[test]
    fn a_cleared_pages_elements_stay_encoded_until_an_undo_puts_them_back() {
        let mut board = Board::new();
        for (seq, id) in (1..).zip(["a", "b", "c"]) {
            board.apply(&logged(seq, stroke(id)));
        }
        board.apply(&logged(4, OpKind::Clear));
        let text = board.checkpoint_text();
        let mut resumed = Board::from_checkpoint_text(&text).unwrap();
        assert!(matches!(undo_of_the_clear(&resumed), Step::PutEncoded(elements) if elements.len() == 3));
        assert_eq!(resumed.checkpoint_text(), text, "the block is written back as it was read");
        resumed.apply(&logged(5, OpKind::Undo));
        let ids: Vec<&str> = resumed.current_page().elements().map(|e| e.id().as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
    }
}
