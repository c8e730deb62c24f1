//! A board's whole state as data, so a replay can resume from it instead of from the first
//! operation: every page (id, background, elements bottom to top), the current page, and every
//! user's undo and redo stacks.
//!
//! The text is JSON: the room log is JSON already, both stores keep it as text, and a person
//! can read a checkpoint with `sqlite3` or `psql`. Each element version is written once and
//! referred to by its index, however many pages and undo stacks hold it, so a checkpoint is
//! about the size of the elements it holds. History about deleted pages is left out: it can
//! never act again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{Board, Edit, Element, History, Page, Step};
use crate::op::{Background, ElementId, PageId};
use crate::sequence::Sequence;

/// The version of the checkpoint text [`Board::checkpoint_json`] writes; a store keeps it
/// beside the text and ignores checkpoints of another version.
pub const CHECKPOINT_FORMAT: u32 = 2;

/// Why a checkpoint text gives no board.
#[derive(Debug, Error)]
pub enum CheckpointError {
    #[error("the checkpoint is not valid JSON of its format: {0}")]
    Syntax(#[from] serde_json::Error),
    #[error("the checkpoint is inconsistent: {0}")]
    Inconsistent(&'static str),
}

#[derive(Serialize, Deserialize)]
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

#[derive(Serialize, Deserialize)]
struct PageState {
    id: PageId,
    background: Option<Background>,
    serial: u64,
    elements: Vec<usize>,
}

#[derive(Serialize, Deserialize)]
struct HistoryState {
    undo: Vec<EditState>,
    redo: Vec<EditState>,
}

#[derive(Serialize, Deserialize)]
struct EditState {
    page: PageId,
    serial: u64,
    steps: Vec<StepState>,
}

#[derive(Serialize, Deserialize)]
enum StepState {
    Remove(ElementId),
    Put(usize, usize),
    SetBackground(Option<Background>),
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
    /// texts. [`Board::from_checkpoint_json`] reads it back.
    pub fn checkpoint_json(&self) -> String {
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
                    steps: edit
                        .steps
                        .iter()
                        .map(|step| match step {
                            Step::Remove(id) => StepState::Remove(id.clone()),
                            Step::Put(at, element) => StepState::Put(*at, interner.intern(element)),
                            Step::SetBackground(bg) => StepState::SetBackground(bg.clone()),
                        })
                        .collect(),
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
        serde_json::to_string(&state).expect("board state serialises")
    }

    /// The board a [`Board::checkpoint_json`] text describes. A text that is not of
    /// [`CHECKPOINT_FORMAT`], or whose parts do not fit together, is an error, never a panic.
    pub fn from_checkpoint_json(text: &str) -> Result<Board, CheckpointError> {
        let state: State = serde_json::from_str(text)?;
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
                if page.by_id.contains_key(element.id()) {
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
