//! The generated tree: folders and projects over `levels` levels with geometric growth, and the
//! resources spread over the projects. Kept beside the model as dense indices, so that bindings
//! and requests can pick scopes and targets quickly and deterministically.

use canopy_core::ids::{NodeId, ResourceId};
use canopy_core::model::{Node, NodeKind, OrgModel, Resource};
use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{CREATED_AT, Invalid, Scale, name, parsed};

/// Resource types with their weights (out of 100) and name prefixes.
const RESOURCE_TYPES: [(&str, u32, &str); 4] = [
    ("vm", 70, "vm"),
    ("storage", 15, "storage"),
    ("node", 10, "host"),
    ("datacenter", 5, "dc"),
];

/// One node of the tree, by dense index (0 is the organisation).
pub(super) struct TreeNode {
    pub id: NodeId,
    /// 0 for the organisation.
    pub depth: usize,
    pub children: Vec<usize>,
    /// Resources homed here.
    pub homed: Vec<usize>,
    /// Resources linked here (projects only).
    pub linked: Vec<usize>,
}

/// One resource, by dense index.
pub(super) struct TreeResource {
    pub id: ResourceId,
    pub type_name: &'static str,
}

/// The tree and resources of a workload, by dense index.
pub(super) struct Tree {
    pub nodes: Vec<TreeNode>,
    pub resources: Vec<TreeResource>,
    pub node_ix: HashMap<NodeId, usize>,
    pub res_ix: HashMap<ResourceId, usize>,
    pub projects: Vec<usize>,
}

/// How many nodes each level gets: roughly `a·growth^l`, at least one, summing to `total`.
fn level_sizes(total: usize, levels: usize, growth: f64) -> Vec<usize> {
    let levels_f = levels as f64;
    let first = if (growth - 1.0).abs() < 1e-9 {
        total as f64 / levels_f
    } else {
        total as f64 * (growth - 1.0) / (growth.powf(levels_f) - 1.0)
    };
    let mut sizes: Vec<usize> = (0..levels - 1)
        .map(|l| ((first * growth.powi(l as i32)).round() as usize).max(1))
        .collect();
    let used: usize = sizes.iter().sum();
    sizes.push(total.saturating_sub(used).max(1));
    sizes
}

/// A resource type by weight, with its name prefix.
fn pick_type(rng: &mut ChaCha8Rng) -> (&'static str, &'static str) {
    let mut roll = rng.random_range(0..100);
    for (type_name, weight, short) in RESOURCE_TYPES {
        if roll < weight {
            return (type_name, short);
        }
        roll -= weight;
    }
    (RESOURCE_TYPES[0].0, RESOURCE_TYPES[0].2)
}

impl Tree {
    /// Generates the nodes and resources, adds them to `model`, and returns their index.
    pub fn generate(
        rng: &mut ChaCha8Rng,
        scale: &Scale,
        model: &mut OrgModel,
    ) -> Result<Tree, Invalid> {
        let parents = Self::parents(rng, scale);
        let mut tree = Tree {
            nodes: Vec::with_capacity(parents.len()),
            resources: Vec::with_capacity(scale.resources),
            node_ix: HashMap::new(),
            res_ix: HashMap::new(),
            projects: Vec::new(),
        };
        tree.add_nodes(&parents, model)?;
        tree.add_resources(rng, scale, model)?;
        Ok(tree)
    }

    /// Each node's (parent, depth), in level order; node 0 is the organisation. A node at level
    /// `l + 1` picks a random parent on level `l`.
    fn parents(rng: &mut ChaCha8Rng, scale: &Scale) -> Vec<(usize, usize)> {
        let mut out = vec![(0, 0)];
        let mut previous: Vec<usize> = vec![0];
        for (l, size) in level_sizes(scale.nodes, scale.levels, scale.growth)
            .into_iter()
            .enumerate()
        {
            let start = out.len();
            for _ in 0..size {
                let parent = *previous.choose(rng).unwrap_or(&0);
                out.push((parent, l + 1));
            }
            previous = (start..out.len()).collect();
        }
        out
    }

    /// Nodes with children are folders, the others projects (so every leaf is a project).
    fn add_nodes(
        &mut self,
        parents: &[(usize, usize)],
        model: &mut OrgModel,
    ) -> Result<(), Invalid> {
        let mut children = vec![Vec::new(); parents.len()];
        for (i, (parent, _)) in parents.iter().enumerate().skip(1) {
            children[*parent].push(i);
        }
        for (i, (parent, depth)) in parents.iter().enumerate() {
            let (kind, id) = match (i, children[i].is_empty()) {
                (0, _) => (NodeKind::Org, model.org.id.clone()),
                (_, false) => (
                    NodeKind::Folder,
                    parsed("node ID", &format!("fld_{i:06}"), NodeId::parse)?,
                ),
                (_, true) => (
                    NodeKind::Project,
                    parsed("node ID", &format!("prj_{i:06}"), NodeId::parse)?,
                ),
            };
            if kind == NodeKind::Project {
                self.projects.push(i);
            }
            if i != 0 {
                let short = if kind == NodeKind::Folder { "f" } else { "p" };
                let node = Node {
                    id: id.clone(),
                    kind,
                    name: name(&format!("{short}-{i}"))?,
                    parent: self.nodes[*parent].id.clone(),
                    created_at: CREATED_AT,
                };
                model.nodes.insert(id.clone(), node);
            }
            self.node_ix.insert(id.clone(), i);
            self.nodes.push(TreeNode {
                id,
                depth: *depth,
                children: std::mem::take(&mut children[i]),
                homed: Vec::new(),
                linked: Vec::new(),
            });
        }
        Ok(())
    }

    /// Resources of weighted types, each homed at a random project; `link_share` of them linked
    /// to a second project.
    fn add_resources(
        &mut self,
        rng: &mut ChaCha8Rng,
        scale: &Scale,
        model: &mut OrgModel,
    ) -> Result<(), Invalid> {
        for i in 0..scale.resources {
            let (type_name, short) = pick_type(rng);
            let home = *self.projects.choose(rng).unwrap_or(&0);
            let mut links = BTreeSet::new();
            if self.projects.len() > 1 && rng.random_bool(scale.link_share) {
                let other = loop {
                    let p = *self.projects.choose(rng).unwrap_or(&0);
                    if p != home {
                        break p;
                    }
                };
                links.insert(self.nodes[other].id.clone());
                self.nodes[other].linked.push(i);
            }
            let id = parsed("resource ID", &format!("res_{i:06}"), ResourceId::parse)?;
            let resource = Resource {
                id: id.clone(),
                type_name: type_name.to_string(),
                name: name(&format!("{short}-{i}"))?,
                home: self.nodes[home].id.clone(),
                links,
                attributes: BTreeMap::new(),
                created_at: CREATED_AT,
            };
            model.resources.insert(id.clone(), resource);
            self.nodes[home].homed.push(i);
            self.res_ix.insert(id.clone(), i);
            self.resources.push(TreeResource { id, type_name });
        }
        Ok(())
    }

    /// A random folder or project (not the organisation).
    pub fn random_node(&self, rng: &mut ChaCha8Rng) -> NodeId {
        let i = if self.nodes.len() > 1 {
            rng.random_range(1..self.nodes.len())
        } else {
            0
        };
        self.nodes[i].id.clone()
    }

    /// A random node on the upper four levels, where a deny binding covers a good part of the tree.
    pub fn upper_node(&self, rng: &mut ChaCha8Rng) -> NodeId {
        let upper: Vec<usize> = (1..self.nodes.len())
            .filter(|&i| self.nodes[i].depth <= 4)
            .collect();
        let i = *upper.choose(rng).unwrap_or(&0);
        self.nodes[i].id.clone()
    }

    /// A random resource.
    pub fn random_resource(&self, rng: &mut ChaCha8Rng) -> ResourceId {
        let i = rng.random_range(0..self.resources.len());
        self.resources[i].id.clone()
    }

    /// `count` distinct folders, preferring levels 2 to 5 (so that each caps a sizeable subtree).
    pub fn guardrail_folders(&self, rng: &mut ChaCha8Rng, count: usize) -> Vec<NodeId> {
        let is_folder = |i: usize| i != 0 && !self.nodes[i].children.is_empty();
        let preferred: Vec<usize> = (1..self.nodes.len())
            .filter(|&i| is_folder(i) && (2..=5).contains(&self.nodes[i].depth))
            .collect();
        let others: Vec<usize> = (1..self.nodes.len())
            .filter(|&i| is_folder(i) && !(2..=5).contains(&self.nodes[i].depth))
            .collect();
        let mut picked: Vec<usize> = preferred
            .choose_multiple(rng, count.min(preferred.len()))
            .copied()
            .collect();
        let missing = count - picked.len();
        picked.extend(
            others
                .choose_multiple(rng, missing.min(others.len()))
                .copied(),
        );
        picked
            .into_iter()
            .map(|i| self.nodes[i].id.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::level_sizes;

    #[test]
    fn levels_grow_geometrically_and_sum_to_the_total() {
        let sizes = level_sizes(5000, 10, 2.0);
        assert_eq!(sizes.len(), 10);
        assert_eq!(sizes.iter().sum::<usize>(), 5000);
        assert_eq!(sizes[0], 5);
        assert!(sizes.windows(2).all(|w| w[1] >= w[0]));
        let small = level_sizes(50, 10, 1.2);
        assert_eq!(small.iter().sum::<usize>(), 50);
        assert!(small.iter().all(|&s| s >= 1));
    }
}
