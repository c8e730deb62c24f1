//! An ordered sequence whose items keep a stable [`Handle`]: inserting at an index, removing
//! by handle, and finding a handle's index each cost O(log n) expected, where a `Vec` shifts
//! or scans O(n). It is an implicit treap (a binary tree ordered by position, balanced by
//! random priorities) kept in an arena, with parent links so a handle finds its own index.

/// Names one item of a [`Sequence`] for as long as it is in it; a removed item's handle may
/// be given to a later item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Handle(u32);

const NIL: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Node<T> {
    /// `None` while the slot is free.
    value: Option<T>,
    left: u32,
    right: u32,
    parent: u32,
    /// Items in the subtree rooted here.
    size: u32,
    priority: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct Sequence<T> {
    nodes: Vec<Node<T>>,
    free: Vec<u32>,
    root: u32,
    /// xorshift32 state for priorities: deterministic, so two replays build the same tree.
    rng: u32,
}

impl<T> Default for Sequence<T> {
    fn default() -> Self {
        Sequence { nodes: Vec::new(), free: Vec::new(), root: NIL, rng: 0x9E37_79B9 }
    }
}

impl<T> Sequence<T> {
    pub(crate) fn len(&self) -> usize {
        self.size(self.root) as usize
    }

    pub(crate) fn get(&self, h: Handle) -> &T {
        self.nodes[h.0 as usize].value.as_ref().expect("a live handle")
    }

    pub(crate) fn get_mut(&mut self, h: Handle) -> &mut T {
        self.nodes[h.0 as usize].value.as_mut().expect("a live handle")
    }

    /// Inserts `value` so that it ends at `index` (clamped to the length).
    pub(crate) fn insert(&mut self, index: usize, value: T) -> Handle {
        let node = self.allocate(value);
        let at = u32::try_from(index).unwrap_or(u32::MAX).min(self.size(self.root));
        let root = if at == self.size(self.root) {
            // Appending, the common case, walks the right spine only.
            self.merge(self.root, node)
        } else {
            let (left, right) = self.split(self.root, at);
            let left = self.merge(left, node);
            self.merge(left, right)
        };
        self.set_root(root);
        Handle(node)
    }

    pub(crate) fn push(&mut self, value: T) -> Handle {
        self.insert(usize::MAX, value)
    }

    /// Removes the item and returns the index it had and its value.
    pub(crate) fn remove(&mut self, h: Handle) -> (usize, T) {
        let index = self.index_of(h);
        let x = h.0;
        let (left, right, parent) = {
            let n = &self.nodes[x as usize];
            (n.left, n.right, n.parent)
        };
        // The merged children keep priorities below the parent's: the heap order holds.
        let merged = self.merge(left, right);
        if merged != NIL {
            self.nodes[merged as usize].parent = parent;
        }
        if parent == NIL {
            self.root = merged;
        } else {
            let p = &mut self.nodes[parent as usize];
            if p.left == x {
                p.left = merged;
            } else {
                p.right = merged;
            }
            let mut up = parent;
            while up != NIL {
                self.nodes[up as usize].size -= 1;
                up = self.nodes[up as usize].parent;
            }
        }
        let n = &mut self.nodes[x as usize];
        let value = n.value.take().expect("a live handle");
        (n.left, n.right, n.parent, n.size) = (NIL, NIL, NIL, 0);
        self.free.push(x);
        if self.root == NIL {
            // Empty: forget the slots, so clones of a cleared sequence cost nothing.
            self.nodes.clear();
            self.free.clear();
        }
        (index, value)
    }

    /// Removes every item; them, first to last.
    pub(crate) fn take_all(&mut self) -> Vec<T> {
        let order: Vec<Handle> = self.handles().collect();
        let items = order.into_iter().map(|h| self.nodes[h.0 as usize].value.take().expect("a live handle")).collect();
        // As an emptied sequence: no slots, the priorities' generator where it was.
        (self.nodes, self.free, self.root) = (Vec::new(), Vec::new(), NIL);
        items
    }

    /// The position of the item, 0 first.
    pub(crate) fn index_of(&self, h: Handle) -> usize {
        let mut x = h.0;
        let mut index = self.size(self.nodes[x as usize].left);
        while self.nodes[x as usize].parent != NIL {
            let p = self.nodes[x as usize].parent;
            if self.nodes[p as usize].right == x {
                index += self.size(self.nodes[p as usize].left) + 1;
            }
            x = p;
        }
        index as usize
    }

    /// The item at `index`, if there is one.
    pub(crate) fn nth(&self, index: usize) -> Option<Handle> {
        let mut k = u32::try_from(index).ok()?;
        let mut x = self.root;
        while x != NIL {
            let n = &self.nodes[x as usize];
            let left = self.size(n.left);
            if k < left {
                x = n.left;
            } else if k == left {
                return Some(Handle(x));
            } else {
                k -= left + 1;
                x = n.right;
            }
        }
        None
    }

    /// Handles in order, first to last.
    pub(crate) fn handles(&self) -> Handles<'_, T> {
        Handles { seq: self, next: self.leftmost(self.root), left: self.len() }
    }

    /// Items in order, first to last.
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = &T> + '_ {
        self.handles().map(|h| self.get(h))
    }

    fn size(&self, x: u32) -> u32 {
        if x == NIL { 0 } else { self.nodes[x as usize].size }
    }

    fn leftmost(&self, mut x: u32) -> u32 {
        while x != NIL && self.nodes[x as usize].left != NIL {
            x = self.nodes[x as usize].left;
        }
        x
    }

    fn successor(&self, mut x: u32) -> u32 {
        let right = self.nodes[x as usize].right;
        if right != NIL {
            return self.leftmost(right);
        }
        loop {
            let p = self.nodes[x as usize].parent;
            if p == NIL || self.nodes[p as usize].left == x {
                return p;
            }
            x = p;
        }
    }

    fn allocate(&mut self, value: T) -> u32 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 17;
        self.rng ^= self.rng << 5;
        let node = Node { value: Some(value), left: NIL, right: NIL, parent: NIL, size: 1, priority: self.rng };
        match self.free.pop() {
            Some(x) => {
                self.nodes[x as usize] = node;
                x
            }
            None => {
                let x = u32::try_from(self.nodes.len()).expect("fewer than 2^32 - 1 items");
                assert!(x != NIL, "fewer than 2^32 - 1 items");
                self.nodes.push(node);
                x
            }
        }
    }

    fn set_root(&mut self, root: u32) {
        self.root = root;
        if root != NIL {
            self.nodes[root as usize].parent = NIL;
        }
    }

    fn update(&mut self, x: u32) {
        let n = &self.nodes[x as usize];
        let size = 1 + self.size(n.left) + self.size(n.right);
        self.nodes[x as usize].size = size;
    }

    fn set_left(&mut self, x: u32, child: u32) {
        self.nodes[x as usize].left = child;
        if child != NIL {
            self.nodes[child as usize].parent = x;
        }
        self.update(x);
    }

    fn set_right(&mut self, x: u32, child: u32) {
        self.nodes[x as usize].right = child;
        if child != NIL {
            self.nodes[child as usize].parent = x;
        }
        self.update(x);
    }

    /// Splits the tree at `x` into its first `k` items and the rest. The roots returned may
    /// still name a parent; whoever attaches or keeps them sets it.
    fn split(&mut self, x: u32, k: u32) -> (u32, u32) {
        if x == NIL {
            return (NIL, NIL);
        }
        let left = self.size(self.nodes[x as usize].left);
        if k <= left {
            let (a, b) = self.split(self.nodes[x as usize].left, k);
            self.set_left(x, b);
            (a, x)
        } else {
            let (a, b) = self.split(self.nodes[x as usize].right, k - left - 1);
            self.set_right(x, a);
            (x, b)
        }
    }

    /// Joins two trees, every item of `a` before every item of `b`.
    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        if self.nodes[a as usize].priority > self.nodes[b as usize].priority {
            let right = self.merge(self.nodes[a as usize].right, b);
            self.set_right(a, right);
            a
        } else {
            let left = self.merge(a, self.nodes[b as usize].left);
            self.set_left(b, left);
            b
        }
    }
}

/// See [`Sequence::handles`].
pub(crate) struct Handles<'a, T> {
    seq: &'a Sequence<T>,
    next: u32,
    left: usize,
}

impl<T> Iterator for Handles<'_, T> {
    type Item = Handle;

    fn next(&mut self) -> Option<Handle> {
        if self.next == NIL {
            return None;
        }
        let h = Handle(self.next);
        self.next = self.seq.successor(self.next);
        self.left -= 1;
        Some(h)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<T> ExactSizeIterator for Handles<'_, T> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Step {
        Insert(usize),
        Remove(usize),
        IndexOf(usize),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => (0usize..64).prop_map(Step::Insert),
            2 => (0usize..64).prop_map(Step::Remove),
            1 => (0usize..64).prop_map(Step::IndexOf),
        ]
    }

    #[test]
    fn an_emptied_sequence_forgets_its_slots() {
        let mut seq = Sequence::default();
        let handles: Vec<Handle> = (0..1_000).map(|i| seq.push(i)).collect();
        for h in handles.into_iter().rev() {
            seq.remove(h);
        }
        assert_eq!((seq.len(), seq.nodes.len(), seq.handles().count()), (0, 0, 0));
    }

    proptest! {
        #[test]
        fn a_sequence_behaves_like_a_vec(steps in proptest::collection::vec(step(), 0..300)) {
            let mut seq = Sequence::default();
            let mut model: Vec<(u32, Handle)> = Vec::new();
            for (n, step) in (0u32..).zip(steps) {
                match step {
                    Step::Insert(at) => {
                        let h = seq.insert(at, n);
                        model.insert(at.min(model.len()), (n, h));
                    }
                    Step::Remove(i) if !model.is_empty() => {
                        let (value, h) = model.remove(i % model.len());
                        prop_assert_eq!(seq.remove(h), (i % (model.len() + 1), value));
                    }
                    Step::IndexOf(i) if !model.is_empty() => {
                        let i = i % model.len();
                        prop_assert_eq!(seq.index_of(model[i].1), i);
                        prop_assert_eq!(seq.nth(i), Some(model[i].1));
                    }
                    Step::Remove(_) | Step::IndexOf(_) => {}
                }
                prop_assert_eq!(seq.len(), model.len());
                prop_assert!(seq.iter().copied().eq(model.iter().map(|(v, _)| *v)));
            }
        }
    }
}
