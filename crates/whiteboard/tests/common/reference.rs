//! The replay as it was before elements were indexed: a `Vec` per page scanned by id, pages in
//! a `Vec`, history dropped eagerly on page delete. Quadratic, but plainly right; the indexed
//! replay must agree with it on every log.

use std::collections::HashMap;
use std::sync::Arc;

use whiteboard::op::{Background, DEFAULT_PAGE, ElementId, LoggedOp, OpKind, PageAction, PageId};
use whiteboard::replay::{Change, Element};

const REGION_ELEMENT_LIMIT: usize = 32;

/// One page of the board.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Page {
    pub(crate) id: PageId,
    /// `None` draws the renderer's default background (InitParams `globalBackgroundColor`).
    pub(crate) background: Option<Background>,
    /// Bottom to top. Shared, so snapshots of a page are cheap to take.
    pub(crate) elements: Vec<Arc<Element>>,
}

impl Page {
    pub(crate) fn new(id: PageId) -> Self {
        Page { id, background: None, elements: Vec::new() }
    }

    pub(crate) fn element(&self, id: &ElementId) -> Option<&Element> {
        self.index_of(id).map(|i| &*self.elements[i])
    }

    fn index_of(&self, id: &ElementId) -> Option<usize> {
        self.elements.iter().position(|e| e.id() == id)
    }
}

/// The smallest unit of an edit; applying one yields its inverse.
#[derive(Debug, Clone)]
enum Step {
    /// Remove the element with this id, if present.
    Remove(ElementId),
    /// Replace the element with the same id in place, or insert it at this index (clamped).
    Put(usize, Arc<Element>),
    SetBackground(Option<Background>),
}

/// Steps to apply in order to one page.
#[derive(Debug, Clone)]
struct Edit {
    page: PageId,
    steps: Vec<Step>,
}

#[derive(Debug, Clone, Default)]
struct History {
    undo: Vec<Edit>,
    redo: Vec<Edit>,
}

/// What applying steps did, to report as a [`Change`].
#[derive(Default)]
struct Effect {
    inverse: Vec<Step>,
    touched: Vec<Arc<Element>>,
    background: bool,
    /// The single step inserted a new element on top.
    on_top: bool,
}

/// The state of a room's board: pages, the current page, and everyone's undo history.
#[derive(Debug, Clone)]
pub(crate) struct Board {
    pages: Vec<Page>,
    current: usize,
    histories: HashMap<String, History>,
    undo_limit: usize,
}

impl Default for Board {
    fn default() -> Self {
        Self::with_undo_limit(whiteboard::replay::UNDO_LIMIT)
    }
}

impl Board {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn with_undo_limit(undo_limit: usize) -> Self {
        Board { pages: vec![Page::new(PageId::default())], current: 0, histories: HashMap::new(), undo_limit }
    }

    /// The board after every operation of `log`, in slice order.
    pub(crate) fn replay(log: &[LoggedOp]) -> Self {
        let mut board = Board::new();
        for op in log {
            board.apply(op);
        }
        board
    }

    /// Pages in order.
    pub(crate) fn pages(&self) -> &[Page] {
        &self.pages
    }

    pub(crate) fn page(&self, id: &PageId) -> Option<&Page> {
        self.pages.iter().find(|p| &p.id == id)
    }

    pub(crate) fn current_page(&self) -> &Page {
        &self.pages[self.current]
    }

    /// The page a `mark` operation snapshots: its own `page`, or else the current page.
    pub(crate) fn marked_page_id(&self, op: &LoggedOp) -> PageId {
        op.op.page.clone().unwrap_or_else(|| self.current_page().id.clone())
    }

    /// Applies one logged operation and tells what changed.
    pub(crate) fn apply(&mut self, logged: &LoggedOp) -> Change {
        let op = &logged.op;
        let steps = match &op.kind {
            OpKind::Stroke(s) => self.put_on_top(op.page_or_default(), Element::Stroke(s.clone())),
            OpKind::Shape(s) => self.put_on_top(op.page_or_default(), Element::Shape(s.clone())),
            OpKind::Text(t) => self.put_on_top(op.page_or_default(), Element::Text(t.clone())),
            OpKind::Image(i) => self.put_on_top(op.page_or_default(), Element::Image(i.clone())),
            OpKind::Erase { ids } => {
                let page = self.page_mut(op.page_or_default());
                let mut found: Vec<usize> = ids.iter().filter_map(|id| page.index_of(id)).collect();
                // Removing top-down makes the inverse re-insert bottom-up at the right indices.
                found.sort_unstable_by(|a, b| b.cmp(a));
                found.dedup();
                found.iter().map(|&i| Step::Remove(page.elements[i].id().clone())).collect()
            }
            OpKind::Clear => {
                let page = self.page_mut(op.page_or_default());
                page.elements.iter().rev().map(|e| Step::Remove(e.id().clone())).collect()
            }
            OpKind::Background(bg) => vec![Step::SetBackground(Some(bg.clone()))],
            OpKind::Page(p) => return self.apply_page_op(p.action, &p.target),
            OpKind::Undo => return self.undo_redo(&logged.user_id, true),
            OpKind::Redo => return self.undo_redo(&logged.user_id, false),
            OpKind::Mark => return Change::None,
        };
        let edit = Edit { page: op.page_or_default(), steps };
        let (change, inverse) = self.run(edit);
        if let Some(inverse) = inverse {
            let history = self.histories.entry(logged.user_id.clone()).or_default();
            history.undo.push(inverse);
            history.redo.clear();
            if history.undo.len() > self.undo_limit {
                history.undo.remove(0);
            }
        }
        change
    }

    fn undo_redo(&mut self, user: &str, undo: bool) -> Change {
        loop {
            let Some(history) = self.histories.get_mut(user) else {
                return Change::None;
            };
            let from = if undo { &mut history.undo } else { &mut history.redo };
            let Some(edit) = from.pop() else {
                return Change::None;
            };
            let (change, inverse) = self.run(edit);
            if let Some(inverse) = inverse {
                let history = self.histories.get_mut(user).expect("history exists");
                let to = if undo { &mut history.redo } else { &mut history.undo };
                to.push(inverse);
                return change;
            }
        }
    }

    /// Applies an edit; returns what changed and the edit that reverts it (`None` when the
    /// edit had no effect).
    fn run(&mut self, edit: Edit) -> (Change, Option<Edit>) {
        let single = edit.steps.len() == 1;
        let page = self.page_mut(edit.page.clone());
        let mut effect = Effect::default();
        for step in edit.steps {
            apply_step(page, step, &mut effect);
        }
        if effect.inverse.is_empty() {
            return (Change::None, None);
        }
        effect.inverse.reverse();
        let id = edit.page;
        let change = if effect.background || effect.touched.len() > REGION_ELEMENT_LIMIT {
            Change::Page { page: id.clone() }
        } else if single && effect.on_top {
            Change::Added { page: id.clone(), element: effect.touched.remove(0) }
        } else {
            Change::Region { page: id.clone(), elements: effect.touched }
        };
        (change, Some(Edit { page: id, steps: effect.inverse }))
    }

    fn apply_page_op(&mut self, action: PageAction, target: &PageId) -> Change {
        let index = self.pages.iter().position(|p| &p.id == target);
        match (action, index) {
            (PageAction::Add, Some(_)) | (PageAction::Delete, None) => Change::None,
            (PageAction::Add, None) => {
                self.pages.push(Page::new(target.clone()));
                Change::None
            }
            (PageAction::Switch, Some(i)) if i == self.current => Change::None,
            (PageAction::Switch, _) => {
                self.page_mut(target.clone());
                self.current = self.pages.iter().position(|p| &p.id == target).expect("created");
                Change::Switched { page: target.clone() }
            }
            (PageAction::Delete, Some(i)) => {
                self.pages.remove(i);
                for history in self.histories.values_mut() {
                    history.undo.retain(|e| &e.page != target);
                    history.redo.retain(|e| &e.page != target);
                }
                if self.pages.is_empty() {
                    self.pages.push(Page::new(PageId::new(DEFAULT_PAGE)));
                }
                if i < self.current {
                    self.current -= 1;
                    Change::None
                } else if i == self.current {
                    self.current = i.saturating_sub(1).min(self.pages.len() - 1);
                    Change::Switched { page: self.current_page().id.clone() }
                } else {
                    Change::None
                }
            }
        }
    }

    fn put_on_top(&mut self, page: PageId, element: Element) -> Vec<Step> {
        let len = self.page_mut(page).elements.len();
        vec![Step::Put(len, Arc::new(element))]
    }

    /// The page with this id, created at the end of the page list if missing.
    fn page_mut(&mut self, id: PageId) -> &mut Page {
        let i = match self.pages.iter().position(|p| p.id == id) {
            Some(i) => i,
            None => {
                self.pages.push(Page::new(id));
                self.pages.len() - 1
            }
        };
        &mut self.pages[i]
    }
}

fn apply_step(page: &mut Page, step: Step, effect: &mut Effect) {
    match step {
        Step::Remove(id) => {
            if let Some(i) = page.index_of(&id) {
                let old = page.elements.remove(i);
                effect.touched.push(old.clone());
                effect.inverse.push(Step::Put(i, old));
            }
        }
        Step::Put(at, el) => match page.index_of(el.id()) {
            Some(i) => {
                let old = std::mem::replace(&mut page.elements[i], el.clone());
                effect.touched.extend([old.clone(), el]);
                effect.inverse.push(Step::Put(i, old));
            }
            None => {
                let at = at.min(page.elements.len());
                page.elements.insert(at, el.clone());
                effect.on_top = at + 1 == page.elements.len();
                effect.inverse.push(Step::Remove(el.id().clone()));
                effect.touched.push(el);
            }
        },
        Step::SetBackground(bg) => {
            if page.background != bg {
                let old = std::mem::replace(&mut page.background, bg);
                effect.background = true;
                effect.inverse.push(Step::SetBackground(old));
            }
        }
    }
}
