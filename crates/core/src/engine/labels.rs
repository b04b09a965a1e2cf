//! Nesting labels: each node of the tree holds an interval of a 31-bit line, and its
//! descendants' intervals nest inside it. A binding at node `s` covers target `t` exactly when
//! `t`'s label falls in `s`'s interval: two comparisons, which a check makes for four binding
//! entries at once, without reading `t`'s path.
//!
//! A node's interval holds its own label, then its children's intervals, then free room where
//! new children go. A subtree laid out afresh gives each of its nodes the same *unit* of room for
//! itself and one more for each child it has, so that a node can take as many new children as it
//! has before its room runs out: a node that keeps growing is laid out again each time its
//! children double, and the cost of growth is spread over the children it adds. A new child (or
//! moved-in subtree) takes the units it needs if they are free, or else half of what is free if
//! that is enough. When neither is, the nearest ancestor whose interval is wide enough for its
//! whole subtree is laid out afresh. So a change lays out what it places (a new node, a moved
//! subtree) and, when room runs out, an ancestor's subtree; never the organisation, unless that
//! ancestor is the root.

use super::index::{Index, Ix, ROOT};

/// A node's interval on the line: `lo` is its own label and `[lo, hi)` holds its subtree's;
/// children are placed from `lo + 1`, and `[free, hi)` is still unused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Label {
    pub lo: u32,
    pub hi: u32,
    free: u32,
    /// The room per unit of [`demand`] this node was laid out with: what a new child takes.
    unit: u32,
}

/// The units of room a subtree of `size` nodes is laid out with: one for each node, and one more
/// for each child of each node (free room for a new one), which is `2 * size - 1`.
fn demand(size: u32) -> u64 {
    (2 * u64::from(size)).saturating_sub(1).max(1)
}

/// The end of the line: labels are the non-negative values of an `i32`, so that a check may
/// compare them as signed numbers, which every SIMD instruction set can.
const LINE_END: u32 = i32::MAX as u32;

/// A subtree is laid out afresh at the nearest ancestor whose interval is at least this many
/// times its subtree's size: each unit of room is then a few places wide, so that what is placed
/// inside it later still finds room.
const SPREAD: u64 = 8;

impl Label {
    /// The root's label: the whole line.
    pub(crate) fn root() -> Label {
        Label {
            lo: 0,
            hi: LINE_END,
            free: 1,
            unit: LINE_END,
        }
    }
}

impl Index {
    /// Adds `by` to the subtree sizes of `n` and its ancestors.
    pub(crate) fn grow_sizes(&mut self, n: Ix, by: i64) {
        for i in 0..self.paths[n as usize].len() {
            let a = self.paths[n as usize][i] as usize;
            self.sizes[a] = (i64::from(self.sizes[a]) + by).max(0) as u32;
        }
    }

    /// Gives node `n`, just placed under its parent (with its subtree, whose sizes are counted),
    /// labels inside the parent's interval.
    pub(crate) fn place_labels(&mut self, n: Ix) {
        let parent = self.nodes[n as usize].parent.unwrap_or(ROOT);
        let room = self.labels[parent as usize];
        let left = u64::from(room.hi - room.free);
        let size = self.sizes[n as usize];
        let wanted = u64::from(room.unit) * demand(size);
        // Otherwise half of what is left, if that gives each node two places at least, so that
        // each keeps room for a child.
        let width = if room.unit > 0 && wanted <= left {
            Some(wanted)
        } else {
            Some(left / 2).filter(|&half| half >= 2 * u64::from(size))
        };
        if let Some(width) = width {
            let (lo, hi) = (room.free, room.free + width as u32);
            self.labels[parent as usize].free = hi;
            self.lay_out(n, lo, hi);
            return;
        }
        let wide_enough = |a: Ix| {
            let l = self.labels[a as usize];
            u64::from(l.hi - l.lo) >= SPREAD * u64::from(self.sizes[a as usize])
        };
        let top = self.paths[parent as usize]
            .iter()
            .rev()
            .copied()
            .find(|&a| wide_enough(a))
            .unwrap_or(ROOT);
        let l = self.labels[top as usize];
        self.lay_out(top, l.lo, l.hi);
    }

    /// Labels `top`'s subtree afresh inside `[lo, hi)`: every node gets the same room per unit
    /// of [`demand`], its children side by side after its own label and the rest free (one unit
    /// for itself and one for each child).
    fn lay_out(&mut self, top: Ix, lo: u32, hi: u32) {
        let mut stack = vec![(top, lo, hi)];
        while let Some((x, lo, hi)) = stack.pop() {
            let unit = u64::from(hi - lo) / demand(self.sizes[x as usize]);
            let mut at = u64::from(lo) + 1;
            for &c in &self.nodes[x as usize].children {
                let width = unit * demand(self.sizes[c as usize]);
                stack.push((c, at as u32, (at + width) as u32));
                at += width;
            }
            let free = at.min(u64::from(hi)) as u32;
            let unit = unit as u32;
            self.labels[x as usize] = Label { lo, hi, free, unit };
            for &b in &self.nodes[x as usize].bindings {
                let p = self.bindings[b as usize].principal;
                self.bound.set_reach(p, b, (lo, hi));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::index::{REACH_GROUP, Tx};
    use crate::ids::{BindingId, NodeId, PrincipalId, RoleId};
    use crate::model::{Binding, Conditions, NodeKind, PrincipalKind, Scope};
    use crate::name::Name;
    use crate::time::Timestamp;

    fn id(i: u32) -> NodeId {
        NodeId::parse(&format!("fld_{i:016}")).unwrap()
    }

    fn name(i: u32) -> Name {
        Name::parse(&format!("n{i}")).unwrap()
    }

    /// Binds one user at node `n` (the role does not matter here).
    fn bind(ix: &mut Index, user: Ix, n: Ix, i: u32) {
        let b = Binding {
            id: BindingId::parse(&format!("bnd_{i:016}")).unwrap(),
            principal: ix.principals[user as usize].id.clone(),
            role: RoleId::parse("rol_viewer").unwrap(),
            scope: Scope::Node(ix.nodes[n as usize].id.clone()),
            expires_at: None,
            conditions: Conditions::default(),
            created_at: Timestamp::from_millis(0),
        };
        ix.add_binding(&b, user, 0, Tx::Node(n));
    }

    /// Whether every binding's entry reaches exactly its scope's interval.
    fn assert_reaches(ix: &Index) {
        for (b, slot) in ix.bindings.iter().enumerate() {
            let list = ix.bound.list(slot.principal);
            let at = list
                .entries
                .iter()
                .position(|e| e.binding() == b as Ix)
                .unwrap();
            let (group, k) = (at / REACH_GROUP, at % REACH_GROUP);
            let reach = (list.reaches[group].lo[k], list.reaches[group].hi[k]);
            assert_eq!(reach, ix.reach(slot.scope), "binding {b}");
        }
    }

    /// Whether every live node's label nests exactly in its ancestors' intervals.
    fn assert_nesting(ix: &Index) {
        let live: Vec<Ix> = (0..ix.nodes.len() as Ix)
            .filter(|&n| ix.nodes[n as usize].live)
            .collect();
        for &s in &live {
            let l = ix.labels[s as usize];
            assert!(l.lo < l.hi && l.hi <= LINE_END, "{s}: {l:?}");
            for &t in &live {
                let below = ix.paths[t as usize].contains(&s);
                let inside = l.lo <= ix.labels[t as usize].lo && ix.labels[t as usize].lo < l.hi;
                assert_eq!(
                    below, inside,
                    "{s} {l:?} over {t} {:?}",
                    ix.labels[t as usize]
                );
            }
        }
    }

    #[test]
    fn labels_nest_through_growth_moves_and_removals() {
        let mut ix = Index::new(&id(0), name(0));
        let user = ix.add_principal(
            &PrincipalId::parse("usr_0000000000000001").unwrap(),
            PrincipalKind::User,
            name(1),
            true,
        );
        let mut nodes: Vec<Ix> = vec![ROOT];
        let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |bound: usize| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % bound as u64) as usize
        };
        for i in 1..1500u32 {
            match next(10) {
                // Moves: under any node not in the moved subtree.
                0 | 1 if nodes.len() > 2 => {
                    let n = nodes[1 + next(nodes.len() - 1)];
                    let to = nodes[next(nodes.len())];
                    if !ix.paths[to as usize].contains(&n) {
                        ix.update_node(n, ix.nodes[n as usize].name.clone(), to);
                    }
                }
                // Removals of leaves.
                2 if nodes.len() > 2 => {
                    let k = 1 + next(nodes.len() - 1);
                    let n = nodes[k];
                    if ix.nodes[n as usize].children.is_empty()
                        && ix.nodes[n as usize].bindings.is_empty()
                    {
                        ix.remove_node(n);
                        nodes.swap_remove(k);
                    }
                }
                // Mostly growth, often under the same few nodes (runs the room out).
                _ => {
                    let parent = if next(2) == 0 {
                        nodes[next(nodes.len().min(4))]
                    } else {
                        nodes[next(nodes.len())]
                    };
                    let n = ix.add_node(&id(i), NodeKind::Folder, name(i), parent);
                    nodes.push(n);
                    // Bindings on nodes that stay: removals take only leaves without them.
                    if next(3) == 0 && ix.nodes[parent as usize].parent.is_some() {
                        bind(&mut ix, user, parent, i);
                    }
                }
            }
            if i % 100 == 0 {
                assert_nesting(&ix);
                assert_reaches(&ix);
            }
        }
        assert_nesting(&ix);
        assert_reaches(&ix);
        assert!(ix.bindings.len() > 100, "{}", ix.bindings.len());
        let sizes: Vec<u32> = nodes.iter().map(|&n| ix.sizes[n as usize]).collect();
        assert_eq!(ix.sizes[ROOT as usize] as usize, nodes.len());
        assert!(sizes.iter().all(|&s| s >= 1));
    }

    #[test]
    fn a_growing_node_is_laid_out_again_only_as_its_children_double() {
        let mut ix = Index::new(&id(0), name(0));
        let top = ix.add_node(&id(1), NodeKind::Folder, name(1), ROOT);
        let mut i = 2;
        let mut add = |ix: &mut Index, parent: Ix, kind: NodeKind| {
            i += 1;
            ix.add_node(&id(i), kind, name(i), parent)
        };
        let mut watched = top;
        for _ in 0..4 {
            let folder = add(&mut ix, top, NodeKind::Folder);
            for _ in 0..50 {
                watched = add(&mut ix, folder, NodeKind::Project);
            }
        }
        // A node deep below `top` moves only when `top`'s subtree is laid out afresh.
        let mut layouts = 0;
        let mut seen = ix.labels[watched as usize];
        for _ in 0..1000 {
            add(&mut ix, top, NodeKind::Project);
            if ix.labels[watched as usize] != seen {
                layouts += 1;
                seen = ix.labels[watched as usize];
            }
        }
        // From 4 children to 1,004: a lay-out each time they double (5 here; 35 when each new
        // child took half of what was free).
        assert!((1..=10).contains(&layouts), "{layouts} lay-outs");
        assert_nesting(&ix);
    }

    #[test]
    fn a_long_chain_and_a_wide_fan_fit_the_line() {
        let mut ix = Index::new(&id(0), name(0));
        let mut parent = ROOT;
        for i in 1..200u32 {
            parent = ix.add_node(&id(i), NodeKind::Folder, name(i), parent);
        }
        for i in 200..2200u32 {
            ix.add_node(&id(i), NodeKind::Project, name(i), ROOT);
        }
        assert_nesting(&ix);
    }
}
