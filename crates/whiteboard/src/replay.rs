//! Folds a room's operation log into board state, for snapshots and for live rendering.
//!
//! # Semantics
//! Replay is total: any log of valid operations gives a board, never an error. An operation
//! that makes no sense against the current state (erasing an id that is not there, adding a
//! page that exists) changes nothing.
//!
//! * The board starts with one empty page, [`DEFAULT_PAGE`], which is current.
//! * Element operations (`stroke`, `shape`, `text`, `image`) put their element on top of the
//!   page's z-order. An element whose id is already on that page replaces it in place (same
//!   z-position): a client can re-send a growing stroke under one id.
//! * Operations naming a page that does not exist create it at the end of the page list;
//!   only `page switch` makes a page current.
//! * `erase` removes the listed elements of its page; `clear` removes all of them; neither
//!   touches the background.
//! * `page delete` removes the page with its elements. If it was current, the page before it
//!   (or else the new first page) becomes current; deleting the last page leaves a fresh empty
//!   [`DEFAULT_PAGE`]. Undo/redo history about the deleted page is dropped.
//! * `mark` changes nothing; it marks its `page`, or the current page when it names none.
//!
//! # Undo and redo
//! Each user has an undo and a redo stack of their own *edits*: `stroke`, `shape`, `text`,
//! `image`, `erase`, `clear` and `background` operations that changed something. `undo` reverts
//! the user's most recent edit that still has an effect and moves it to their redo stack;
//! `redo` re-applies the most recently undone one. A new edit by the user empties their redo
//! stack; other users' operations never touch it. Undo acts on the current state, not by
//! rewinding the log, so other users' later work survives:
//! * undoing an added element removes it (if someone else already erased it, that edit has no
//!   effect left and undo moves on to the user's previous edit);
//! * undoing a replacement puts the previous version back;
//! * undoing an `erase` or `clear` puts the removed elements back at their former z-positions
//!   (unless an element with the same id has been added since);
//! * undoing a `background` restores the previous background;
//! * redo re-applies the same way: a re-added element returns to the z-position it had.
//!
//! Page operations, `mark`, `undo` and `redo` are not edits.
//!
//! History is bounded: a user's undo stack keeps their newest [`UNDO_LIMIT`] edits on pages
//! that still exist (a [`Board::with_undo_limit`] board, its own bound); an older edit is
//! forgotten, so `undo` stops there, and what only that edit could restore (the elements an
//! old `erase` or `clear` removed) is dropped from memory and from checkpoints. Undo and redo
//! only move edits between the two stacks, so together they never hold more than the bound.

mod checkpoint;
mod element;
mod encoding;

pub use checkpoint::CHECKPOINT_FORMAT;
pub use element::Element;
pub use encoding::CheckpointError;
use encoding::EncodedElements;

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hashbrown::HashTable;
use smallvec::{SmallVec, smallvec};
use thiserror::Error;

use serde::{Deserialize, Serialize};

use crate::op::{Background, DEFAULT_PAGE, ElementId, LoggedOp, OpKind, PageAction, PageId};
use crate::sequence::{Handle, Sequence};

/// Beyond this many touched elements a change is reported as a whole-page redraw: one full
/// repaint is cheaper than many overlapping partial ones.
const REGION_ELEMENT_LIMIT: usize = 32;

/// Most edits a user's undo stack keeps (see the module's "Undo and redo").
pub const UNDO_LIMIT: usize = 100;

/// One page of the board.
#[derive(Debug, Clone)]
pub struct Page {
    pub id: PageId,
    /// `None` draws the renderer's default background (InitParams `globalBackgroundColor`).
    pub background: Option<Background>,
    /// Bottom to top. Shared, so snapshots of a page are cheap to take.
    elements: Sequence<Arc<Element>>,
    by_id: IdIndex,
    /// Which creation of a page with this id it is (unique within a board): undo history
    /// about a deleted page must not act on a later page of the same id.
    serial: u64,
}

impl PartialEq for Page {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && self.background == other.background && self.elements().eq(other.elements())
    }
}

impl Page {
    pub fn new(id: PageId) -> Self {
        Self::with_serial(id, 0)
    }

    fn with_serial(id: PageId, serial: u64) -> Self {
        Page { id, background: None, elements: Sequence::default(), by_id: IdIndex::default(), serial }
    }

    pub fn element(&self, id: &ElementId) -> Option<&Element> {
        self.handle(id).map(|h| &**self.elements.get(h))
    }

    fn handle(&self, id: &ElementId) -> Option<Handle> {
        self.by_id.find(&self.elements, id)
    }

    /// The elements, bottom to top.
    pub fn elements(&self) -> impl ExactSizeIterator<Item = &Arc<Element>> + '_ {
        self.elements.iter()
    }

    /// How many elements the page holds.
    pub fn len(&self) -> usize {
        self.elements.len()
    }

    pub fn is_empty(&self) -> bool {
        self.elements.len() == 0
    }

    fn index_of(&self, id: &ElementId) -> Option<usize> {
        self.handle(id).map(|h| self.elements.index_of(h))
    }

    /// Removes the element with this id; its former z-index and itself.
    fn remove(&mut self, id: &ElementId) -> Option<(usize, Arc<Element>)> {
        let h = self.by_id.remove(&self.elements, id)?;
        Some(self.elements.remove(h))
    }

    /// Replaces the element with the same id in place; its z-index and the old version.
    fn replace(&mut self, element: Arc<Element>) -> Option<(usize, Arc<Element>)> {
        let h = self.handle(element.id())?;
        Some((self.elements.index_of(h), std::mem::replace(self.elements.get_mut(h), element)))
    }

    /// Removes every element; them, bottom to top.
    fn take_all(&mut self) -> Vec<Arc<Element>> {
        self.by_id = IdIndex::default();
        self.elements.take_all()
    }

    /// Inserts an element whose id is not on the page at `at` (clamped); its z-index.
    fn insert(&mut self, at: usize, element: Arc<Element>) -> usize {
        let at = at.min(self.elements.len());
        let hash = self.by_id.hash(element.id());
        let h = self.elements.insert(at, element);
        self.by_id.insert(hash, h);
        at
    }
}

/// A page's elements by id: each entry keeps its id's hash beside the handle, so growing the
/// table moves entries without reading the ids again (re-hashing hundreds of thousands of
/// scattered id strings dominated replay at classroom scale), and the id itself is read from
/// the element, never stored twice. Ids are tenant-chosen: the hasher is std's randomly keyed
/// SipHash, so crafted ids cannot collide on purpose.
#[derive(Debug, Clone, Default)]
struct IdIndex {
    table: HashTable<(u64, Handle)>,
    hasher: RandomState,
}

impl IdIndex {
    fn hash(&self, id: &ElementId) -> u64 {
        self.hasher.hash_one(id)
    }

    fn find(&self, elements: &Sequence<Arc<Element>>, id: &ElementId) -> Option<Handle> {
        let hash = self.hash(id);
        self.table.find(hash, entry_of(elements, hash, id)).map(|&(_, handle)| handle)
    }

    fn remove(&mut self, elements: &Sequence<Arc<Element>>, id: &ElementId) -> Option<Handle> {
        let hash = self.hash(id);
        let entry = self.table.find_entry(hash, entry_of(elements, hash, id)).ok()?;
        Some(entry.remove().0.1)
    }

    /// Adds the element at `handle`, whose id hashes to `hash` and is not in the index.
    fn insert(&mut self, hash: u64, handle: Handle) {
        self.table.insert_unique(hash, (hash, handle), |&(h, _)| h);
    }
}

/// Whether an index entry is the element with this id (its hash first, then the id itself).
fn entry_of<'a>(
    elements: &'a Sequence<Arc<Element>>,
    hash: u64,
    id: &'a ElementId,
) -> impl Fn(&(u64, Handle)) -> bool + 'a {
    move |&(h, handle)| h == hash && elements.get(handle).id() == id
}

/// What an operation changed, for a renderer that keeps the previous frame
/// ([`crate::render::Renderer::apply_change`]; an element's pixel box is
/// [`crate::render::Renderer::element_bounds`]). Changes are reported for any page; whether
/// they are visible depends on which page is shown.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Nothing visible changed.
    None,
    /// `element` was put on top of `page`: painting it over the previous frame is exact.
    Added { page: PageId, element: Arc<Element> },
    /// These elements of `page` appeared, disappeared or were replaced (old and new versions
    /// are listed): repainting the union of their footprints is exact.
    Region { page: PageId, elements: Vec<Arc<Element>> },
    /// `page` changed as a whole (background, or too many elements to track): repaint it all.
    Page { page: PageId },
    /// The current page is now `page`.
    Switched { page: PageId },
}

/// The smallest unit of an edit; applying one yields its inverse.
#[derive(Debug, Clone)]
enum Step {
    /// Remove the element with this id, if present.
    Remove(ElementId),
    /// Replace the element with the same id in place, or insert it at this index (clamped).
    Put(usize, Arc<Element>),
    SetBackground(Option<Background>),
    /// Remove every element (a `clear`): the page's elements are taken whole, not one by one.
    RemoveAll,
    /// `Put(i, element)` for each element in order, `i` from 0: the inverse of [`Step::RemoveAll`],
    /// one step instead of one per element until it is applied.
    PutAll(Vec<Arc<Element>>),
    /// A [`Step::PutAll`] as a checkpoint holds it, decoded when it is applied: a board resumed
    /// from a checkpoint does not build the elements only an `undo` of a `clear` can bring back.
    PutEncoded(EncodedElements),
}

impl Step {
    /// How many single-element steps this one stands for.
    fn weight(&self) -> usize {
        match self {
            Step::PutAll(elements) => elements.len(),
            Step::PutEncoded(elements) => elements.len(),
            Step::Remove(_) | Step::Put(..) | Step::SetBackground(_) | Step::RemoveAll => 1,
        }
    }
}

/// Steps to apply in order to one page.
#[derive(Debug, Clone)]
struct Edit {
    page: PageId,
    /// The [`Page::serial`] the edit was made on: once that page is deleted the edit is
    /// history about a page that is gone, skipped by undo and redo.
    serial: u64,
    steps: Steps,
}

#[derive(Debug, Clone, Default)]
struct History {
    /// Oldest first: the front is what the bound drops.
    undo: VecDeque<Edit>,
    redo: Vec<Edit>,
}

/// An edit's steps: most edits are one step, kept inline (an edit per operation is the
/// replay's hottest allocation otherwise).
type Steps = SmallVec<[Step; 1]>;

/// What applying steps did, to report as a [`Change`].
#[derive(Default)]
struct Effect {
    inverse: Steps,
    /// Inline for an added or replaced element, the common case.
    touched: SmallVec<[Arc<Element>; 2]>,
    background: bool,
    /// More elements were touched than [`REGION_ELEMENT_LIMIT`] (not all listed in `touched`).
    many: bool,
    /// The single step inserted a new element on top.
    on_top: bool,
}

/// The state of a room's board: pages, the current page, and everyone's undo history.
///
/// Every operation costs O(log n) expected in the elements of its page and the pages of the
/// board (plus its own size: the ids an `erase` lists, the elements a `clear` removes), so
/// replaying a log is linear in its length.
#[derive(Debug, Clone)]
pub struct Board {
    pages: Sequence<Page>,
    page_ids: HashMap<PageId, Handle>,
    current: Handle,
    histories: HashMap<String, History>,
    next_serial: u64,
    undo_limit: usize,
}

impl Default for Board {
    fn default() -> Self {
        Self::with_undo_limit(UNDO_LIMIT)
    }
}

impl Board {
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty board whose users' undo stacks keep at most `limit` edits each (at least 1)
    /// instead of [`UNDO_LIMIT`]; a checkpoint of it keeps the bound.
    pub fn with_undo_limit(limit: usize) -> Self {
        let mut pages = Sequence::default();
        let current = pages.push(Page::with_serial(PageId::default(), 0));
        let page_ids = HashMap::from([(PageId::default(), current)]);
        Board { pages, page_ids, current, histories: HashMap::new(), next_serial: 1, undo_limit: limit.max(1) }
    }

    /// How many edits a user's undo stack keeps at most.
    pub fn undo_limit(&self) -> usize {
        self.undo_limit
    }

    /// The board after every operation of `log`, in slice order.
    pub fn replay(log: &[LoggedOp]) -> Self {
        let mut board = Board::new();
        for op in log {
            board.apply(op);
        }
        board
    }

    /// Pages in order.
    pub fn pages(&self) -> impl ExactSizeIterator<Item = &Page> + '_ {
        self.pages.iter()
    }

    pub fn page(&self, id: &PageId) -> Option<&Page> {
        self.page_ids.get(id).map(|&h| self.pages.get(h))
    }

    pub fn current_page(&self) -> &Page {
        self.pages.get(self.current)
    }

    /// The page a `mark` operation snapshots: its own `page`, or else the current page.
    pub fn marked_page_id(&self, op: &LoggedOp) -> PageId {
        op.op.page.clone().unwrap_or_else(|| self.current_page().id.clone())
    }

    /// Applies one logged operation and tells what changed.
    pub fn apply(&mut self, logged: &LoggedOp) -> Change {
        let op = &logged.op;
        match &op.kind {
            OpKind::Page(p) => return self.apply_page_op(p.action, &p.target),
            OpKind::Undo => return self.undo_redo(&logged.user_id, true),
            OpKind::Redo => return self.undo_redo(&logged.user_id, false),
            OpKind::Mark => return Change::None,
            // Edits: each creates the page it names.
            OpKind::Stroke(_)
            | OpKind::Shape(_)
            | OpKind::Text(_)
            | OpKind::Image(_)
            | OpKind::Erase { .. }
            | OpKind::Clear
            | OpKind::Background(_) => {}
        }
        let page_id = op.page_or_default();
        let page = self.page_mut(page_id.clone());
        let (serial, steps) = (page.serial, edit_steps(page, &op.kind));
        let edit = Edit { page: page_id, serial, steps };
        let (change, inverse) = self.run(edit);
        if let Some(inverse) = inverse {
            let history = match self.histories.get_mut(logged.user_id.as_str()) {
                Some(history) => history,
                None => self.histories.entry(logged.user_id.clone()).or_default(),
            };
            history.undo.push_back(inverse);
            history.redo.clear();
            // No edit about a deleted page is left to count (see `apply_page_op`).
            if history.undo.len() > self.undo_limit {
                history.undo.pop_front();
            }
        }
        change
    }

    fn undo_redo(&mut self, user: &str, undo: bool) -> Change {
        loop {
            let Some(history) = self.histories.get_mut(user) else {
                return Change::None;
            };
            let popped = if undo { history.undo.pop_back() } else { history.redo.pop() };
            let Some(edit) = popped else {
                return Change::None;
            };
            let (change, inverse) = self.run(edit);
            if let Some(inverse) = inverse {
                let history = self.histories.get_mut(user).expect("history exists");
                if undo {
                    history.redo.push(inverse);
                } else {
                    history.undo.push_back(inverse);
                }
                return change;
            }
        }
    }

    /// Applies an edit; returns what changed and the edit that reverts it (`None` when the
    /// edit had no effect, or its page was deleted since).
    fn run(&mut self, edit: Edit) -> (Change, Option<Edit>) {
        let single = edit.steps.iter().map(Step::weight).sum::<usize>() == 1;
        let Some(&handle) = self.page_ids.get(&edit.page) else {
            return (Change::None, None);
        };
        let page = self.pages.get_mut(handle);
        if page.serial != edit.serial {
            return (Change::None, None);
        }
        let mut effect = Effect::default();
        for step in edit.steps {
            apply_step(page, step, &mut effect);
        }
        if effect.inverse.is_empty() {
            return (Change::None, None);
        }
        effect.inverse.reverse();
        let id = edit.page;
        let change = if effect.background || effect.many || effect.touched.len() > REGION_ELEMENT_LIMIT {
            Change::Page { page: id.clone() }
        } else if single && effect.on_top {
            Change::Added { page: id.clone(), element: effect.touched.remove(0) }
        } else {
            Change::Region { page: id.clone(), elements: effect.touched.into_vec() }
        };
        (change, Some(Edit { page: id, serial: edit.serial, steps: effect.inverse }))
    }

    fn apply_page_op(&mut self, action: PageAction, target: &PageId) -> Change {
        let handle = self.page_ids.get(target).copied();
        match (action, handle) {
            (PageAction::Add, Some(_)) | (PageAction::Delete, None) => Change::None,
            (PageAction::Add, None) => {
                self.create_page(target.clone());
                Change::None
            }
            (PageAction::Switch, Some(h)) if h == self.current => Change::None,
            (PageAction::Switch, _) => {
                self.current = match handle {
                    Some(h) => h,
                    None => self.create_page(target.clone()),
                };
                Change::Switched { page: target.clone() }
            }
            (PageAction::Delete, Some(h)) => {
                let current = self.pages.index_of(self.current);
                let (i, page) = self.pages.remove(h);
                // History about the page goes with it, so it neither acts again nor counts
                // against the bound; a bounded history makes this cheap. (Edits also name
                // the page's serial, which no later page of the same id has.)
                for history in self.histories.values_mut() {
                    let about_page = |edit: &Edit| edit.serial == page.serial && edit.page == page.id;
                    history.undo.retain(|edit| !about_page(edit));
                    history.redo.retain(|edit| !about_page(edit));
                }
                self.page_ids.remove(target);
                if self.pages.len() == 0 {
                    self.create_page(PageId::new(DEFAULT_PAGE));
                }
                if i == current {
                    let next = i.saturating_sub(1).min(self.pages.len() - 1);
                    self.current = self.pages.nth(next).expect("an index below the length");
                    Change::Switched { page: self.current_page().id.clone() }
                } else {
                    Change::None
                }
            }
        }
    }

    /// Appends a new page, which must not exist yet.
    fn create_page(&mut self, id: PageId) -> Handle {
        let serial = self.next_serial;
        self.next_serial += 1;
        let handle = self.pages.push(Page::with_serial(id.clone(), serial));
        self.page_ids.insert(id, handle);
        handle
    }

    /// The page with this id, created at the end of the page list if missing.
    fn page_mut(&mut self, id: PageId) -> &mut Page {
        let handle = match self.page_ids.get(&id) {
            Some(&h) => h,
            None => self.create_page(id),
        };
        self.pages.get_mut(handle)
    }
}

/// The steps of an edit operation on `page`; none for operations that are not edits.
fn edit_steps(page: &Page, kind: &OpKind) -> Steps {
    let on_top = |element| smallvec![Step::Put(page.len(), Arc::new(element))];
    match kind {
        OpKind::Stroke(s) => on_top(Element::Stroke(s.clone())),
        OpKind::Shape(s) => on_top(Element::Shape(s.clone())),
        OpKind::Text(t) => on_top(Element::Text(t.clone())),
        OpKind::Image(i) => on_top(Element::Image(i.clone())),
        OpKind::Erase { ids } => {
            let mut found: Vec<(usize, &ElementId)> =
                ids.iter().filter_map(|id| page.index_of(id).map(|i| (i, id))).collect();
            // Removing top-down makes the inverse re-insert bottom-up at the right indices.
            found.sort_unstable_by_key(|(i, _)| std::cmp::Reverse(*i));
            found.dedup_by_key(|(i, _)| *i);
            found.into_iter().map(|(_, id)| Step::Remove(id.clone())).collect()
        }
        OpKind::Clear => smallvec![Step::RemoveAll],
        OpKind::Background(bg) => smallvec![Step::SetBackground(Some(bg.clone()))],
        OpKind::Page(_) | OpKind::Undo | OpKind::Redo | OpKind::Mark => Steps::new(),
    }
}

fn apply_step(page: &mut Page, step: Step, effect: &mut Effect) {
    match step {
        Step::Remove(id) => {
            if let Some((i, old)) = page.remove(&id) {
                effect.touched.push(old.clone());
                effect.inverse.push(Step::Put(i, old));
            }
        }
        Step::Put(at, el) => match page.replace(el.clone()) {
            Some((i, old)) => {
                effect.touched.extend([old.clone(), el]);
                effect.inverse.push(Step::Put(i, old));
            }
            None => {
                let at = page.insert(at, el.clone());
                effect.on_top = at + 1 == page.len();
                effect.inverse.push(Step::Remove(el.id().clone()));
                effect.touched.push(el);
            }
        },
        Step::RemoveAll => {
            // As removing them one by one from the top would: touched top first, the inverse
            // putting them back bottom first.
            let removed = page.take_all();
            if removed.len() > REGION_ELEMENT_LIMIT {
                effect.many = true;
            } else {
                effect.touched.extend(removed.iter().rev().cloned());
            }
            if !removed.is_empty() {
                effect.inverse.push(Step::PutAll(removed));
            }
        }
        Step::PutAll(elements) => {
            for (i, el) in elements.into_iter().enumerate() {
                apply_step(page, Step::Put(i, el), effect);
            }
        }
        Step::PutEncoded(elements) => apply_step(page, Step::PutAll(elements.decode()), effect),
        Step::SetBackground(bg) => {
            if page.background != bg {
                let old = std::mem::replace(&mut page.background, bg);
                effect.background = true;
                effect.inverse.push(Step::SetBackground(old));
            }
        }
    }
}

/// Which marks a snapshot task renders (Tencent's `SnapshotMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SnapshotMode {
    /// One snapshot per mark.
    #[default]
    AllMarks,
    /// Only the newest mark of each page.
    LatestMarksOnly,
}

/// A page as it was when a mark was logged.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The `seq` of the mark.
    pub seq: u64,
    pub page: Page,
}

/// Why [`snapshots_within`] gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SnapshotsError {
    #[error("the log holds more than {max} marks to render")]
    TooManyMarks { max: usize },
    #[error("stopped")]
    Stopped,
}

/// Replays `log` (in slice order, which must be `seq` order) and returns the snapshots
/// `mode` asks for, in log order of their marks. A mark naming a page that does not exist
/// snapshots it as an empty page.
pub fn snapshots(log: &[LoggedOp], mode: SnapshotMode) -> Vec<Snapshot> {
    snapshots_within(log, mode, usize::MAX, &AtomicBool::new(false)).expect("no bound to exceed")
}

/// [`snapshots`], giving up once more than `max_marks` snapshots would be returned, or when
/// `stop` is raised (checked before every operation, so a caller's deadline or shutdown ends
/// a long replay promptly).
pub fn snapshots_within(
    log: &[LoggedOp],
    mode: SnapshotMode,
    max_marks: usize,
    stop: &AtomicBool,
) -> Result<Vec<Snapshot>, SnapshotsError> {
    snapshots_from(Board::new(), log, mode, max_marks, stop)
}

/// [`snapshots_within`] resuming from `board`, the state right before the first operation
/// of `log` (a checkpoint's): only the marks of `log` are snapshotted.
pub fn snapshots_from(
    mut board: Board,
    log: &[LoggedOp],
    mode: SnapshotMode,
    max_marks: usize,
    stop: &AtomicBool,
) -> Result<Vec<Snapshot>, SnapshotsError> {
    // With LatestMarksOnly a page's earlier snapshot is dropped as soon as a later mark
    // replaces it, so memory follows the pages, not the marks.
    let mut shots: Vec<Option<Snapshot>> = Vec::new();
    let mut latest: HashMap<PageId, usize> = HashMap::new();
    let mut kept = 0usize;
    for op in log {
        if stop.load(Ordering::Relaxed) {
            return Err(SnapshotsError::Stopped);
        }
        if let OpKind::Mark = op.op.kind {
            let id = board.marked_page_id(op);
            let page = board.page(&id).cloned().unwrap_or_else(|| Page::new(id.clone()));
            if mode == SnapshotMode::LatestMarksOnly
                && let Some(previous) = latest.insert(id, shots.len())
            {
                shots[previous] = None;
                kept -= 1;
            }
            shots.push(Some(Snapshot { seq: op.seq, page }));
            kept += 1;
            if kept > max_marks {
                return Err(SnapshotsError::TooManyMarks { max: max_marks });
            }
        } else {
            board.apply(op);
        }
    }
    Ok(shots.into_iter().flatten().collect())
}
