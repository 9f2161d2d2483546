//! What one container is served at a moment: the names its resolver
//! answers and, for each virtual address and port it may reach, the
//! node's route there. A new table builds a new view and the container's
//! servers swap it whole, as ingress listeners swap routes.

use std::{collections::HashMap, net::SocketAddrV4};

use super::{dns::names::Names, reach::Reach, routes::Destination, routes::Routes};

#[derive(Debug, Default)]
pub struct View {
    pub names: Names,
    pub destinations: HashMap<SocketAddrV4, Destination>,
}

impl View {
    pub fn new(reach: Reach, routes: &Routes) -> Self {
        let destinations = reach
            .destinations
            .into_iter()
            .filter_map(|(address, key)| Some((address, routes.get(&key)?.clone())))
            .collect();
        Self {
            names: reach.names,
            destinations,
        }
    }
}
